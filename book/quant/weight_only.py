"""Weight-only quantisation of a linear layer's weight W (N outputs × K inputs).

* INT8, per output channel: s_n = max_k |W_nk| / 127, q = round(W / s) ∈ [−127, 127].
* INT4, symmetric, per group of ``group_size`` consecutive inputs:
  s_ng = max |W| / 7 over the group, q = round(W / s) ∈ [−8, 7], stored as
  q + 8 ∈ [0, 15], two per byte: element 2j in the low nibble of byte j and
  element 2j+1 in the high nibble.

The reference matmul dequantises and multiplies: y = x Ŵᵀ. Built for
Part III's quantization chapter; the Triton kernels are in :mod:`book.kernels.quant_matmul`.
"""

from __future__ import annotations

import torch


def _check_weight(w: torch.Tensor) -> None:
    if not isinstance(w, torch.Tensor) or w.ndim != 2 or not w.is_floating_point():
        raise ValueError(f"weight must be a 2-D floating-point tensor (N, K), got "
                         f"{getattr(w, 'shape', type(w).__name__)} {getattr(w, 'dtype', '')}")


def quantize_int8(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(q int8 (N, K), scale float32 (N,)) with per-output-channel absmax scaling."""
    _check_weight(w)
    scale = w.float().abs().amax(dim=1).clamp_min(1e-12) / 127.0
    q = torch.round(w.float() / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q, scale


def dequantize_int8(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return q.float() * scale[:, None]


def quantize_int4(w: torch.Tensor, group_size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """(packed uint8 (N, K/2), scales float32 (N, K/group_size)), symmetric per group."""
    _check_weight(w)
    n, k = w.shape
    if group_size % 2 or k % group_size:
        raise ValueError(f"K={k} must be a multiple of group_size={group_size}, and group_size even")
    groups = w.float().reshape(n, k // group_size, group_size)
    scales = groups.abs().amax(dim=2).clamp_min(1e-12) / 7.0                 # (N, G)
    q = torch.round(groups / scales[..., None]).clamp(-8, 7).to(torch.int16) + 8
    q = q.reshape(n, k).to(torch.uint8)
    packed = q[:, 0::2] | (q[:, 1::2] << 4)
    return packed, scales


def unpack_int4(packed: torch.Tensor) -> torch.Tensor:
    """The signed 4-bit values (N, K) as int8 in [−8, 7]."""
    lo = (packed & 0xF).to(torch.int8) - 8
    hi = (packed >> 4).to(torch.int8) - 8
    return torch.stack([lo, hi], dim=-1).reshape(packed.shape[0], -1)


def dequantize_int4(packed: torch.Tensor, scales: torch.Tensor, group_size: int = 128) -> torch.Tensor:
    q = unpack_int4(packed).float()
    n, k = q.shape
    return (q.reshape(n, k // group_size, group_size) * scales[..., None]).reshape(n, k)


def int8_matmul_reference(x: torch.Tensor, q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return (x.float() @ dequantize_int8(q, scale).T).to(x.dtype)


def int4_matmul_reference(x: torch.Tensor, packed: torch.Tensor, scales: torch.Tensor,
                          group_size: int = 128) -> torch.Tensor:
    return (x.float() @ dequantize_int4(packed, scales, group_size).T).to(x.dtype)
