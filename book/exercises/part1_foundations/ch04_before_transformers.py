"""Exercise checkers for p1-ch4 (before transformers: initialization, CNNs, RNNs)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from book.checks import assert_close
from book.exercises import passed

#: Per-layer factor by which PyTorch's default ``nn.Linear`` initialization multiplies the
#: pre-activation variance of a ReLU network. ``nn.Linear`` draws from
#: ``kaiming_uniform_(a=√5)``, i.e. U(-b, b) with b = gain·√(3/n) and gain² = 2/(1 + a²) = 1/3,
#: so Var(w) = b²/3 = gain²/n; a layer multiplies the variance by n·Var(w) and the ReLU halves it.
DEFAULT_LINEAR_RELU_FACTOR = torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5)) ** 2 / 2


def check_default_init_factor(predicted: float) -> None:
    """``predicted`` must be the variance factor per layer: Var(z^l) / Var(z^(l-1))."""
    got = float(predicted)
    want = DEFAULT_LINEAR_RELU_FACTOR
    assert abs(got - want) <= 1e-3 * want, (
        f"you predicted {got:.4g} per layer, the factor is {want:.4g}. Hint: the variance of "
        "U(-a, a) is a²/3, each pre-activation sums n_in terms, and a ReLU keeps half of a "
        "symmetric variable's second moment.")
    passed(f"PyTorch's default Linear init shrinks the variance {1 / want:.0f}-fold per ReLU layer")


def he_std_reference(fan_in: int, negative_slope: float = 0.0) -> float:
    """Weight std that preserves the variance through a leaky ReLU with slope ``negative_slope``."""
    return math.sqrt(2.0 / ((1.0 + negative_slope ** 2) * fan_in))


def check_he_std(fn: Callable[[int, float], float]) -> None:
    """``fn(fan_in, negative_slope)`` must return the He std for a leaky ReLU layer."""
    for fan_in, slope in [(256, 0.0), (1, 0.01), (1000, 0.2), (7, 1.0), (4096, 0.5)]:
        got = float(fn(fan_in, slope))
        # torch's own gain for leaky_relu is sqrt(2 / (1 + a²)); std = gain / sqrt(fan_in)
        want = torch.nn.init.calculate_gain("leaky_relu", slope) / math.sqrt(fan_in)
        assert abs(got - want) <= 1e-9 * want, (
            f"fan_in={fan_in}, negative_slope={slope}: you returned {got:.6g}, expected {want:.6g}. "
            "Hint: for z symmetric about 0, E[leaky_relu(z)²] = (1 + a²)/2 · Var(z).")
    passed("He std for leaky ReLU = torch.nn.init.calculate_gain('leaky_relu', a)/√fan_in on 5 cases")


def _conv_cases() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, int, int]]:
    g = torch.Generator().manual_seed(4)

    def r(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    return [
        (r(2, 3, 9, 7), r(4, 3, 3, 3), r(4), 1, 1),      # 'same' padding, odd sizes
        (r(1, 1, 8, 8), r(16, 1, 3, 3), r(16), 2, 0),    # stride 2, one image
        (r(3, 5, 13, 6), r(2, 5, 4, 2), r(2), 3, 2),     # non-square kernel, stride 3, padding 2
        (r(2, 4, 5, 5), r(6, 4, 1, 1), r(6), 1, 0),      # 1×1 convolution
        (r(1, 2, 4, 4), r(3, 2, 4, 4), r(3), 1, 0),      # kernel as large as the image
    ]


def check_conv2d(fn: Callable[..., torch.Tensor]) -> None:
    """``fn(x, w, b, stride, padding)`` must equal ``F.conv2d`` (N, C, H, W layout, float64)."""
    for x, w, b, stride, padding in _conv_cases():
        want = F.conv2d(x, w, b, stride=stride, padding=padding)
        got = fn(x.clone(), w.clone(), b.clone(), stride, padding)
        assert tuple(got.shape) == tuple(want.shape), (
            f"x {tuple(x.shape)}, w {tuple(w.shape)}, stride {stride}, padding {padding}: output shape "
            f"{tuple(got.shape)}, expected {tuple(want.shape)}. Hint: H_out = (H + 2p - k) // s + 1.")
        assert_close(got, want, rtol=1e-10, atol=1e-10,
                     name=f"conv2d of x {tuple(x.shape)} with w {tuple(w.shape)}, stride {stride}, padding {padding}")
    passed("conv2d = torch.nn.functional.conv2d on 5 cases (strides, padding, 1×1 and full-size kernels)")


def check_gru_cell(fn: Callable[..., torch.Tensor]) -> None:
    """``fn(x, h, W_ih, W_hh, b_ih, b_hh)`` must equal one step of ``torch.nn.GRUCell``.

    Weights use PyTorch's layout: ``W_ih`` is (3H, I) with the reset, update and
    candidate blocks stacked in that order, ``W_hh`` is (3H, H).
    """
    g = torch.Generator().manual_seed(11)
    for batch, n_in, n_hidden in [(4, 3, 5), (1, 1, 1), (7, 10, 2)]:
        cell = torch.nn.GRUCell(n_in, n_hidden).double()
        with torch.no_grad():
            for p in cell.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
        x = torch.randn(batch, n_in, generator=g, dtype=torch.float64)
        h = torch.randn(batch, n_hidden, generator=g, dtype=torch.float64)
        with torch.no_grad():
            want = cell(x, h)
            got = fn(x, h, cell.weight_ih.clone(), cell.weight_hh.clone(), cell.bias_ih.clone(), cell.bias_hh.clone())
        assert tuple(got.shape) == (batch, n_hidden), f"h' must have shape {(batch, n_hidden)}, got {tuple(got.shape)}"
        assert_close(got, want, rtol=1e-10, atol=1e-12,
                     name=f"GRU step (batch {batch}, input {n_in}, hidden {n_hidden}). Hint: h' = (1 - z)·n + z·h, "
                          "and the reset gate multiplies (W_hn h + b_hn), bias included")
    passed("GRU cell = torch.nn.GRUCell on 3 sizes")
