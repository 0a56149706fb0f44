"""Layers of the transformer: normalisation, feed-forward blocks, positions.

Taught in p1-6.4 (LayerNorm, sinusoidal positions, the GELU MLP) and p1-7.3
(RMSNorm, SwiGLU, RoPE); p2-vii-normalization derives the normalisations again.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class LayerNorm(nn.Module):
    """y = (x − mean) / sqrt(var + eps) · γ + β over the last dimension (biased variance)."""

    def __init__(self, dim: int, eps: float = 1e-5, bias: bool = True):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(-1, keepdim=True)
        var = x.var(-1, keepdim=True, unbiased=False)
        y = (x - mean) / torch.sqrt(var + self.eps) * self.weight
        return y + self.bias if self.bias is not None else y


class RMSNorm(nn.Module):
    """y = x / sqrt(mean(x²) + eps) · γ: LayerNorm without centring or bias."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def make_norm(kind: str, dim: int) -> nn.Module:
    if kind == "layernorm":
        return LayerNorm(dim)
    if kind == "rmsnorm":
        return RMSNorm(dim)
    raise ValueError(f"norm must be 'layernorm' or 'rmsnorm', got {kind!r}")


class MLP(nn.Module):
    """The transformer's feed-forward block: Linear(d → 4d) → GELU → Linear(4d → d)."""

    def __init__(self, dim: int, hidden: int | None = None, bias: bool = True, dropout: float = 0.0):
        super().__init__()
        hidden = hidden or 4 * dim
        self.up = nn.Linear(dim, hidden, bias=bias)
        self.down = nn.Linear(hidden, dim, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down(F.gelu(self.up(x))))


class SwiGLU(nn.Module):
    """Gated feed-forward block: down(SiLU(gate(x)) ⊙ up(x)).

    The default hidden width, 8d/3 rounded up to a multiple of 8, keeps the
    parameter count equal to the 4d GELU MLP's (three matrices instead of two).
    """

    def __init__(self, dim: int, hidden: int | None = None, bias: bool = False, dropout: float = 0.0):
        super().__init__()
        hidden = hidden or 8 * math.ceil(8 * dim / 3 / 8)
        self.gate = nn.Linear(dim, hidden, bias=bias)
        self.up = nn.Linear(dim, hidden, bias=bias)
        self.down = nn.Linear(hidden, dim, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down(F.silu(self.gate(x)) * self.up(x)))


def position_angles(n_positions: int, dim: int, base: float = 10000.0,
                    dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(n_positions, dim/2) angles p · ω_i with ω_i = base^(−2i/dim): the sinusoidal table and RoPE share them."""
    if dim % 2:
        raise ValueError(f"dim must be even for sin/cos pairs, got {dim}")
    omega = base ** (-torch.arange(0, dim, 2, dtype=dtype) / dim)                # (dim/2,)
    return torch.arange(n_positions, dtype=dtype)[:, None] * omega               # (T, dim/2)


def sinusoidal_positions(n_positions: int, dim: int, base: float = 10000.0,
                         dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(n_positions, dim) table: PE[p, 2i] = sin(p ω_i), PE[p, 2i+1] = cos(p ω_i), ω_i = base^(−2i/dim)."""
    angles = position_angles(n_positions, dim, base, dtype)
    pe = torch.zeros(n_positions, dim, dtype=dtype)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe


def rope_angles(n_positions: int, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables of shape (n_positions, head_dim/2) for rotary embeddings."""
    if head_dim % 2:
        raise ValueError(f"head_dim must be even for RoPE, got {head_dim}")
    angles = position_angles(n_positions, head_dim, base)                        # (T, D/2)
    return torch.cos(angles), torch.sin(angles)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each consecutive pair (x[2i], x[2i+1]) of ``x`` (..., T, D) by the angle of its position.

    ``cos``/``sin`` are (T, D/2) tables from :func:`rope_angles`. The score
    q_m·k_n of rotated vectors depends on m − n only.
    """
    x1, x2 = x[..., 0::2], x[..., 1::2]
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return out.flatten(-2)
