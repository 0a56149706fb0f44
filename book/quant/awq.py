"""AWQ-style activation-aware scaling: protect the weights that meet large activations.

For y = x Wᵀ, scaling input channel k of W up by s_k and the activation down by
it leaves the layer unchanged, y = (x / s) (W diag(s))ᵀ, but it changes what
rounding does: channel k's weights are quantised on a grid that is relatively
s_k times finer, so the error they contribute to y shrinks where the
activations |x_k| are large. AWQ (Lin et al., 2023) takes s = a^α with a_k the
mean |x_k| over a calibration batch, normalised so that max(s) · min(s) = 1,
and picks α from a grid by the layer's output error on that batch,

    L(α) = mean over the batch of ‖x Wᵀ − (x / s) Q(W diag(s))ᵀ‖² .

The grid starts at α = 0, where s = 1 exactly and the result *is*
round-to-nearest, so the chosen α can never do worse than round-to-nearest on
the calibration batch. The quantised layer stores Q(W diag(s)) and s, and
computes y = (x / s) Q(W diag(s))ᵀ; its effective weight is Q(W diag(s)) diag(s)⁻¹.
Taught in p3-iii-awq.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from book.quant.weight_only import check_bits, check_group_size, check_weight, dequantize_absmax, quantize_absmax


def output_error(x: torch.Tensor, w: torch.Tensor, w_hat: torch.Tensor) -> float:
    """Mean squared error of the layer's outputs on the batch, mean ‖x (W − Ŵ)ᵀ‖² over rows and outputs, in float64."""
    return float(((x.double() @ (w.double() - w_hat.double()).T) ** 2).mean())


@dataclass
class AWQResult:
    """The chosen α and scales s (K,), the stored codes and group scales of Q(W diag(s)),
    the effective weight Ŵ = Q(W diag(s)) diag(s)⁻¹ (N, K), and the loss at every α of the grid."""

    alpha: float
    s: torch.Tensor
    q: torch.Tensor
    scales: torch.Tensor
    w_hat: torch.Tensor
    alphas: list[float]
    losses: list[float]


def awq_quantize(w: torch.Tensor, x: torch.Tensor, bits: int = 4, group_size: int | None = None,
                 n_grid: int = 20) -> AWQResult:
    """Search α ∈ {0, 1/n_grid, …, (n_grid − 1)/n_grid} for w (N, K) and calibration inputs x (n, K)."""
    check_weight(w, "w")
    check_weight(x, "x")
    if x.ndim != 2 or x.shape[1] != w.shape[1]:
        raise ValueError(f"x has shape {tuple(x.shape)}; expected (n, {w.shape[1]}) to match w's width")
    check_bits(bits)
    check_group_size(w, group_size)
    if not isinstance(n_grid, int) or n_grid < 1:
        raise ValueError(f"n_grid must be a positive integer, got {n_grid!r}")
    w = w.float()
    a = x.float().abs().mean(dim=0)                                         # (K,) mean |x_k|
    best = None
    alphas, losses = [], []
    for step in range(n_grid):
        alpha = step / n_grid
        s = a.pow(alpha).clamp_min(1e-4)
        s = s / (s.max() * s.min()).sqrt()                                  # α = 0: s = 1 exactly
        q, scales = quantize_absmax(w * s, bits, group_size)
        w_hat = dequantize_absmax(q, scales) / s
        loss = output_error(x, w, w_hat)
        alphas.append(alpha)
        losses.append(loss)
        if best is None or loss < best[0]:
            best = (loss, alpha, s, q, scales, w_hat)
    _, alpha, s, q, scales, w_hat = best
    return AWQResult(alpha=alpha, s=s, q=q, scales=scales, w_hat=w_hat, alphas=alphas, losses=losses)
