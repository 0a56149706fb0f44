"""GPTQ: quantise a weight column by column, feeding each column's rounding error forward.

For a linear layer y = W x with calibration inputs X (K × n, one column per
token), GPTQ (Frantar et al., 2022) minimises the layer's output error
‖W X − Ŵ X‖², whose Hessian with respect to a row of W is H = 2 X Xᵀ (K × K).
It quantises the columns of W in order; after quantising column i it adds the
optimal correction to the columns not yet quantised (the Optimal Brain
Surgeon update restricted to them),

    δ = −(w_i − q_i) / [H_F⁻¹]_ii · [H_F⁻¹]_i,F ,

where F is the set of remaining columns. The rows of the upper Cholesky factor
U of H⁻¹ (H⁻¹ = Uᵀ U) are exactly those updates for every F at once:
[H_F⁻¹]_i,F / [H_F⁻¹]_ii = U_i,F / U_ii. Before factorising, H gets the damping
λ = ``damp`` · mean(diag H) on its diagonal, and a column that no calibration
token activates (H_ii = 0) is zeroed.

*Lazy batch* updates apply the corrections inside a block of ``block_size``
columns at once and push the block's accumulated errors to the later columns
with one matrix product; the result is the column-by-column one, only faster
(``block_size=1`` is the plain algorithm). A group's scale is computed from its
columns as they are when the group's first column is reached, after the
corrections from every earlier column, so blocking never changes a code.
Taught in p3-iii-gptq.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from book.quant.weight_only import check_bits, check_group_size, check_weight, dequantize_absmax, pack_int4


def hessian(x: torch.Tensor) -> torch.Tensor:
    """H = 2 X Xᵀ (K, K) for calibration inputs given as rows, x (n, K) (so X = xᵀ), in float64."""
    check_weight(x, "x")
    x = x.double()
    return 2 * x.T @ x


@dataclass
class GPTQResult:
    """Codes q int8 (N, K), scales float32 (N, K / group_size) and Ŵ = s q float32 (N, K)."""

    q: torch.Tensor
    scales: torch.Tensor
    w_hat: torch.Tensor

    def packed_int4(self) -> torch.Tensor:
        """The codes packed two per byte, as :func:`book.kernels.quant_matmul.int4_matmul` reads them."""
        return pack_int4(self.q)


def gptq_quantize(w: torch.Tensor, h: torch.Tensor, bits: int = 4, group_size: int | None = None,
                  block_size: int = 128, damp: float = 0.01) -> GPTQResult:
    """Quantise w (N, K) with GPTQ given the Hessian h (K, K) of its inputs (:func:`hessian`).

    The grid is absmax per group (:func:`book.quant.weight_only.quantize_absmax`):
    s = max |w| / (2^(bits−1) − 1) over the group's current values. Works in float64.
    """
    check_weight(w, "w")
    check_weight(h, "h")
    n, k = w.shape
    if h.shape != (k, k):
        raise ValueError(f"h has shape {tuple(h.shape)}; expected ({k}, {k}) for w of shape {tuple(w.shape)}")
    qmax = 2 ** (check_bits(bits) - 1) - 1
    g = check_group_size(w, group_size)
    if not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be a positive integer, got {block_size!r}")
    if not damp >= 0:
        raise ValueError(f"damp must be >= 0, got {damp!r}")

    W = w.double().clone()
    H = h.double().clone()
    dead = torch.diag(H) == 0                      # inputs that are always zero: their weights do not matter
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    H += damp * torch.diag(H).mean() * torch.eye(k, dtype=H.dtype)
    U = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)   # H⁻¹ = UᵀU

    Q = torch.zeros(n, k, dtype=torch.float64)
    scales = torch.zeros(n, k // g, dtype=torch.float64)
    for i1 in range(0, k, block_size):
        i2 = min(i1 + block_size, k)
        W1 = W[:, i1:i2].clone()                   # this block's columns, kept up to date
        E1 = torch.zeros_like(W1)                  # scaled errors (w − q) / U_ii, pushed on lazily
        for j in range(i2 - i1):
            i = i1 + j
            if i % g == 0:                         # a new group: its scale from its current values
                cols = torch.cat([W1[:, j:j + g],
                                  W[:, i2:i + g] - E1[:, :j] @ U[i1:i, i2:i + g]], dim=1)
                scales[:, i // g] = cols.abs().amax(dim=1).clamp_min(1e-12) / qmax
            s = scales[:, i // g]
            Q[:, i] = torch.round(W1[:, j] / s).clamp(-qmax, qmax)
            E1[:, j] = (W1[:, j] - Q[:, i] * s) / U[i, i]
            W1[:, j:] -= E1[:, j:j + 1] * U[i, i:i2][None, :]
        W[:, i2:] -= E1 @ U[i1:i2, i2:]
    q = Q.to(torch.int8)
    scales = scales.float()
    return GPTQResult(q=q, scales=scales, w_hat=dequantize_absmax(q, scales))
