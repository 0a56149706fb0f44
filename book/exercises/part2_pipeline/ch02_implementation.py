"""Exercise checkers for p2-ii (implementation: a mini-framework and its PyTorch twin).

* :func:`check_sigmoid_layer` — a parameter-free layer with the chapter's
  layer-wise API (``forward`` caches, ``backward(grad_out)`` returns the input
  gradient) against ``torch.sigmoid`` and autograd, on inputs of ±1000;
* :func:`check_sgd` — an optimizer with ``zero_grad``/``step`` and momentum and
  weight decay against ``torch.optim.SGD`` over 25 steps.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from book.checks import assert_close
from book.exercises import passed


def _sigmoid_inputs(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    x = rng.standard_normal(shape) * 4.0
    x.flat[0] = 1000.0      # exp(1000) overflows float64
    x.flat[-1] = -1000.0    # and so does exp(-(-1000)) in the textbook formula
    return x


def check_sigmoid_layer(layer_cls: Callable[[], object]) -> None:
    """``layer_cls()`` must build a layer whose ``forward(x)`` is σ(x) and whose
    ``backward(g)`` returns ``g ⊙ σ'(x)`` for the ``x`` of the latest ``forward``."""
    rng = np.random.default_rng(21)
    for shape in [(5, 7), (1, 1), (33, 3), (2, 3, 4)]:
        x = _sigmoid_inputs(rng, shape)
        g = rng.standard_normal(shape)
        xt = torch.tensor(x, requires_grad=True)
        yt = torch.sigmoid(xt)
        yt.backward(torch.tensor(g))
        layer = layer_cls()
        try:
            with np.errstate(over="raise", invalid="raise"):
                y = np.asarray(layer.forward(x.copy()), dtype=np.float64)
                dx = np.asarray(layer.backward(g.copy()), dtype=np.float64)
        except FloatingPointError as err:
            raise AssertionError(
                f"overflow on inputs of ±1000 ({err}). Hint: compute σ(x) without exp of a large "
                "positive number, e.g. exp(−logaddexp(0, −x)), and reuse the cached output in backward.") from None
        assert y.shape == x.shape, f"forward must keep the input's shape {shape}, got {y.shape}"
        assert dx.shape == x.shape, f"backward must return a gradient of the input's shape {shape}, got {dx.shape}"
        assert_close(y, yt, rtol=1e-12, atol=1e-15, name=f"forward for shape {shape}")
        try:
            assert_close(dx, xt.grad, rtol=1e-10, atol=1e-15, name=f"backward for shape {shape}")
        except AssertionError as err:
            raise AssertionError(f"{err}. Hint: σ'(x) = σ(x)(1 − σ(x)), multiplied by the upstream "
                                 "gradient element by element.") from None
    # The backward pass must use what the *latest* forward cached.
    layer = layer_cls()
    x1, x2, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    layer.forward(x1)
    layer.forward(x2)
    s = 1.0 / (1.0 + np.exp(-x2))
    assert_close(np.asarray(layer.backward(g), dtype=np.float64), g * s * (1 - s), rtol=1e-10, atol=1e-15,
                 name="backward after two forwards (must use the second input)")
    params = getattr(layer, "parameters", None)
    if callable(params):
        assert len(list(params())) == 0, "a sigmoid has no parameters, but parameters() found some"
    passed("Sigmoid layer: forward and backward = torch.autograd on 4 shapes, ±1000 included")


class _Param:
    """The chapter's Parameter in miniature: an array and its accumulated gradient."""

    def __init__(self, data: np.ndarray):
        self.data = data
        self.grad = np.zeros_like(data)


def check_sgd(sgd_cls: Callable[..., object]) -> None:
    """``sgd_cls(params, lr=, momentum=, weight_decay=)`` must step like ``torch.optim.SGD``.

    ``params`` are objects with ``.data`` and ``.grad`` arrays; ``zero_grad()``
    must leave every ``.grad`` an array of zeros (the checker then adds the
    step's gradient into it, as a backward pass would), and ``step()`` updates
    ``.data``.
    """
    rng = np.random.default_rng(5)
    shapes = [(3, 4), (5,), (1, 1)]
    for lr, momentum, wd in [(0.1, 0.0, 0.0), (0.05, 0.9, 0.0), (0.1, 0.9, 1e-2), (0.3, 0.5, 0.1)]:
        init = [rng.standard_normal(s) for s in shapes]
        params = [_Param(a.copy()) for a in init]
        tparams = [torch.tensor(a.copy(), requires_grad=True) for a in init]
        opt = sgd_cls(params, lr=lr, momentum=momentum, weight_decay=wd)
        topt = torch.optim.SGD(tparams, lr=lr, momentum=momentum, weight_decay=wd)
        for step in range(25):
            grads = [rng.standard_normal(s) for s in shapes]
            opt.zero_grad()
            for p, g in zip(params, grads):
                assert p.grad is not None and not np.any(p.grad), (
                    "after zero_grad() every .grad must be an array of zeros")
                p.grad += g
            opt.step()
            topt.zero_grad()
            for tp, g in zip(tparams, grads):
                tp.grad = torch.tensor(g)
            topt.step()
            for i, (p, tp) in enumerate(zip(params, tparams)):
                try:
                    assert_close(p.data, tp.detach(), rtol=1e-11, atol=1e-12,
                                 name=f"parameter {i} after step {step + 1} (lr={lr}, momentum={momentum}, "
                                      f"weight_decay={wd})")
                except AssertionError as err:
                    raise AssertionError(
                        f"{err}. Hint: g ← grad + λ·θ; b ← g on the first step, else μ·b + g "
                        "(no (1 − μ) factor); θ ← θ − η·b; keep one buffer per parameter.") from None
    passed("SGD with momentum and weight decay = torch.optim.SGD over 25 steps, 4 settings")
