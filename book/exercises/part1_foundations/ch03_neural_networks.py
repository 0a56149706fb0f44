"""Exercise checkers for p1-ch3 (neural networks).

* :func:`check_silu` — an activation and its derivative against PyTorch, on
  inputs large enough to overflow a naive ``exp``;
* :func:`check_central_difference` — a finite-difference gradient for arrays
  of any shape that leaves its input untouched;
* :func:`check_residual_backward` — the hand-derived backward pass of a
  residual GELU block against ``torch.autograd``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from book.checks import assert_close, relative_error
from book.exercises import passed

Array = np.ndarray


def _silu_inputs() -> np.ndarray:
    rng = np.random.default_rng(11)
    return np.concatenate([np.linspace(-8.0, 8.0, 161), rng.standard_normal(37) * 3,
                           [-1000.0, -50.0, -1e-8, 0.0, 1e-8, 50.0, 1000.0]])


def check_silu(silu: Callable[[Array], Array], silu_grad: Callable[[Array], Array]) -> None:
    """``silu(x) = x·σ(x)`` and ``silu_grad(x)`` must match PyTorch without overflowing at ±1000."""
    x = _silu_inputs()
    xt = torch.tensor(x, requires_grad=True)
    y = F.silu(xt)
    y.sum().backward()
    for name, fn, want in [("silu", silu, y), ("silu_grad", silu_grad, xt.grad)]:
        try:
            with np.errstate(over="raise", invalid="raise"):
                got = np.asarray(fn(x.copy()), dtype=np.float64)
        except FloatingPointError as err:
            raise AssertionError(
                f"{name} overflowed ({err}) on inputs of ±1000. Hint: compute σ(x) without "
                "exp of a large positive number, e.g. exp(−logaddexp(0, −x)) as in §3.1.") from None
        assert got.shape == x.shape, f"{name} must keep the input's shape {x.shape}, got {got.shape}"
        assert_close(got, want, rtol=1e-10, atol=1e-12, name=f"{name} vs PyTorch")
    passed("SiLU and its derivative = PyTorch on 205 inputs, ±1000 included")


def _cases() -> list[tuple[str, Callable[[Array], float], Callable[[Array], Array], Array]]:
    rng = np.random.default_rng(5)
    C = rng.standard_normal((3, 4))
    T = rng.standard_normal((2, 3, 2))

    def lse(x):
        m = x.max()
        return float(m + np.log(np.exp(x - m).sum()))

    def softmax(x):
        e = np.exp(x - x.max())
        return e / e.sum()

    return [
        ("sum of cubes, shape (5,)", lambda x: float(np.sum(x**3)), lambda x: 3 * x**2,
         rng.standard_normal(5)),
        ("log-sum-exp of large logits, shape (6,)", lse, softmax, rng.standard_normal(6) * 3 + 40.0),
        ("weighted tanh, shape (3, 4)", lambda x: float(np.sum(C * np.tanh(x))),
         lambda x: C * (1 - np.tanh(x) ** 2), rng.standard_normal((3, 4))),
        ("exp of one number, shape (1,)", lambda x: float(np.exp(x[0])), np.exp, np.array([0.3])),
        ("a 3-D array, shape (2, 3, 2)", lambda x: float(np.sum(T * x**2)), lambda x: 2 * T * x,
         rng.standard_normal((2, 3, 2))),
    ]


def check_central_difference(fn: Callable[[Callable[[Array], float], Array], Array]) -> None:
    """``fn(f, x)`` -> the central-difference gradient of ``f`` at ``x`` (any shape), leaving ``x`` as it was."""
    for name, f, grad, x in _cases():
        before = x.copy()
        got = np.asarray(fn(f, x), dtype=np.float64)
        assert np.array_equal(x, before), (
            f"{name}: your function changed x. Hint: restore each entry after perturbing it "
            "(or perturb a copy); every later entry would otherwise be evaluated at the wrong point.")
        assert got.shape == x.shape, f"{name}: the gradient must have x's shape {x.shape}, got {got.shape}"
        rel = relative_error(got, grad(x))
        assert rel < 1e-7, (
            f"{name}: relative error {rel:.1e} (should be below 1e-7). Hint: use the central "
            "difference (f(x + ε) − f(x − ε)) / 2ε with ε around 1e-6; a one-sided difference "
            "is only first-order accurate.")
    passed("central differences match the exact gradient on 5 functions, input left unchanged")


def _residual_torch(X, W1, b1, W2, b2, G):
    ts = [torch.tensor(a, requires_grad=True) for a in (X, W1, b1, W2, b2)]
    Xt, W1t, b1t, W2t, b2t = ts
    Y = Xt + F.gelu(Xt @ W1t + b1t) @ W2t + b2t
    Y.backward(torch.tensor(G))
    return [t.grad for t in ts]


def check_residual_backward(fn: Callable[..., tuple]) -> None:
    """``fn(X, W1, b1, W2, b2, G)`` must return ``(dX, dW1, db1, dW2, db2)`` for
    ``Y = X + GELU(X W1 + b1) W2 + b2`` and upstream gradient ``G = ∂L/∂Y``."""
    rng = np.random.default_rng(17)
    names = ("dX", "dW1", "db1", "dW2", "db2")
    for B, D, H in [(4, 3, 5), (1, 1, 1), (17, 6, 11), (2, 9, 2)]:
        X = rng.standard_normal((B, D))
        W1, b1 = rng.standard_normal((D, H)), rng.standard_normal(H)
        W2, b2 = rng.standard_normal((H, D)), rng.standard_normal(D)
        G = rng.standard_normal((B, D))
        got = fn(X.copy(), W1.copy(), b1.copy(), W2.copy(), b2.copy(), G.copy())
        assert len(got) == 5, f"return five gradients {names}, got {len(got)} values"
        for name, g, want in zip(names, got, _residual_torch(X, W1, b1, W2, b2, G)):
            g = np.asarray(g, dtype=np.float64)
            assert g.shape == tuple(want.shape), (
                f"{name} for B={B}, D={D}, H={H}: shape {g.shape}, expected {tuple(want.shape)}. "
                "Hint: a gradient has the shape of the quantity it is taken with respect to.")
            hint = " Hint: the skip connection sends G straight to X as well." if name == "dX" else ""
            try:
                assert_close(g, want, rtol=1e-9, atol=1e-11, name=f"{name} for B={B}, D={D}, H={H}")
            except AssertionError as err:
                raise AssertionError(f"{err}.{hint}") from None
    passed("residual-block gradients = torch.autograd on 4 shapes")
