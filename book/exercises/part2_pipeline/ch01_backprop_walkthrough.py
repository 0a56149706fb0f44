"""Exercise checkers for p2-i (the backprop walkthrough).

* :func:`check_sigmoid` — a ``sigmoid`` op added to the reader's scalar ``Value`` class;
* :func:`check_matmul_vjp` — the backward pass of ``a @ b`` for 1-D and batched
  operands, as NumPy and PyTorch define the product;
* :func:`check_log_softmax_vjp` — the vector–Jacobian product of ``log_softmax``.

Every reference is computed with ``torch.autograd`` in float64.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from book.checks import assert_close
from book.exercises import passed


def check_sigmoid(value_cls: type) -> None:
    """``value_cls(x).sigmoid()`` must be a node whose backward pass is right and never overflows.

    The checker builds ``y = s * x + s`` with ``s = x.sigmoid()``, so that both
    ``x`` and ``s`` are used twice, calls ``y.backward()`` and compares ``x.grad``
    (and ``s.data``) with PyTorch. It uses ``+``, ``*``, ``.data``, ``.grad`` and
    ``.backward()`` of the class, as the chapter's ``Value`` has them.
    """
    for x0 in (-3.0, -0.5, 0.0, 0.7, 4.0, -800.0, 800.0):
        try:
            x = value_cls(x0)
            s = x.sigmoid()
            y = s * x + s
            y.backward()
        except OverflowError as err:
            raise AssertionError(
                f"sigmoid overflowed at x = {x0:g} ({err}). Hint: exp(-x) overflows for very negative x; "
                "there use the equal form exp(x) / (1 + exp(x)).") from None
        xt = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
        st = torch.sigmoid(xt)
        (st * xt + st).backward()
        got_s, got_g = float(s.data), float(x.grad)
        assert np.isfinite(got_s) and np.isfinite(got_g), (
            f"at x = {x0:g} you got sigmoid {got_s} and gradient {got_g}; both must be finite")
        assert_close(got_s, st.item(), rtol=1e-12, atol=1e-300, name=f"sigmoid({x0:g})")
        assert abs(got_g - xt.grad.item()) <= 1e-10 * max(1.0, abs(xt.grad.item())), (
            f"x.grad = {got_g:.6g} for x = {x0:g}, expected {xt.grad.item():.6g}. Hint: the local "
            "derivative is σ(x)(1 − σ(x)), and a backward closure must add to the operand's grad "
            "(+=), not overwrite it, because x and s are each used twice.")
    passed("sigmoid node: values and gradients = torch on 7 inputs, ±800 included")


_MATMUL_CASES = [
    ((4, 3), (3, 5)),        # the plain case
    ((3,), (3, 5)),          # vector @ matrix -> (5,)
    ((4, 3), (3,)),          # matrix @ vector -> (4,)
    ((3,), (3,)),            # dot product -> ()
    ((2, 4, 3), (3, 5)),     # a batch of matrices times one shared weight
    ((4, 3), (2, 3, 5)),     # one matrix times a batch
    ((3,), (2, 3, 5)),       # vector @ batch -> (2, 5)
    ((2, 1, 4, 3), (5, 3, 2)),  # batch axes broadcast against each other
    ((1, 1), (1, 1)),
]


def _matmul_reference(a: np.ndarray, b: np.ndarray, g: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    at = torch.tensor(a, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    return torch.autograd.grad(torch.matmul(at, bt), (at, bt), torch.tensor(g))


def check_matmul_vjp(fn: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple]) -> None:
    """``fn(a, b, g)`` must return ``(ā, b̄)`` for ``c = a @ b`` with NumPy's 1-D and batch rules."""
    rng = np.random.default_rng(11)
    for sa, sb in _MATMUL_CASES:
        a, b = rng.standard_normal(sa), rng.standard_normal(sb)
        g = rng.standard_normal(np.matmul(a, b).shape)
        a_bar, b_bar = (np.asarray(x, dtype=np.float64) for x in fn(a.copy(), b.copy(), g.copy()))
        want_a, want_b = _matmul_reference(a, b, g)
        for name, got, want, shape in (("ā", a_bar, want_a, sa), ("b̄", b_bar, want_b, sb)):
            assert got.shape == shape, (
                f"for {sa} @ {sb} your {name} has shape {got.shape}, expected {shape}. Hint: promote a 1-D "
                "operand to a matrix, undo the promotion at the end, and sum batch axes the operand "
                "did not have (unbroadcast).")
            assert_close(got, want, rtol=1e-10, atol=1e-12, name=f"{name} for {sa} @ {sb}")
    passed(f"matmul VJP = torch.autograd on {len(_MATMUL_CASES)} shape pairs, 1-D and batched operands included")


def check_log_softmax_vjp(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
    """``fn(x, g)`` must return ``x̄ = Jᵀ g`` for ``y = log_softmax(x)`` over the last axis."""
    rng = np.random.default_rng(5)
    cases = {
        "(4, 5)": rng.standard_normal((4, 5)),
        "(2, 3, 7)": rng.standard_normal((2, 3, 7)),
        "one class (3, 1)": rng.standard_normal((3, 1)),
        "(1, 1000) wide logits": 50.0 * rng.standard_normal((1, 1000)),
        "huge logits (±1e4)": rng.choice([-1e4, 1e4], size=(4, 6)) + rng.standard_normal((4, 6)),
    }
    for name, x in cases.items():
        g = rng.standard_normal(x.shape)
        with np.errstate(all="ignore"):
            got = np.asarray(fn(x.copy(), g.copy()), dtype=np.float64)
        assert got.shape == x.shape, f"{name}: the gradient must have the input's shape {x.shape}, got {got.shape}"
        assert np.isfinite(got).all(), (
            f"{name}: the result has inf or NaN. Hint: compute softmax after subtracting the row maximum.")
        xt = torch.tensor(x, requires_grad=True)
        (want,) = torch.autograd.grad(torch.log_softmax(xt, dim=-1), xt, torch.tensor(g))
        assert_close(got, want, rtol=1e-10, atol=1e-12,
                     name=f"{name} (expected g − softmax(x) · Σ g over the last axis)")
    passed(f"log_softmax VJP = torch.autograd on {len(cases)} cases, extreme logits included")
