"""Weight-only quantisation of a linear layer's weight W (N outputs × K inputs).

Two ways to map a real number to a b-bit integer, per output row or per group
of ``group_size`` consecutive inputs of a row:

* **absmax** (symmetric): s = max |W| / (2^(b−1) − 1), q = round(W / s) ∈
  [−(2^(b−1) − 1), 2^(b−1) − 1], Ŵ = s q. Zero is exact; one code (−2^(b−1)) is unused.
* **zero-point** (asymmetric): the range [min(W, 0), max(W, 0)] is split into
  2^b − 1 steps, s = (max − min) / (2^b − 1), z = round(−min / s), q =
  clamp(round(W / s) + z, 0, 2^b − 1), Ŵ = s (q − z). Every code is used when
  the weights are lopsided.

The storage formats the Triton kernels of :mod:`book.kernels.quant_matmul` read:

* INT8, per output channel: absmax with b = 8, q ∈ [−127, 127] as int8, scale (N,) float32.
* INT4, per group: absmax with b = 4, q ∈ [−7, 7] stored as q + 8 ∈ [1, 15], two
  per byte: element 2j in the low nibble of byte j and element 2j+1 in the
  high nibble; scales (N, K/group_size) float32.

The reference matmul dequantises and multiplies: y = x Ŵᵀ. :func:`round_trip`
quantises and dequantises in any of the book's formats (:data:`FORMATS`).
Taught in p3-iii-absmax and p3-iii-int4.

>>> import torch
>>> w = torch.tensor([[0.6, -1.0, 0.25, 0.0]])        # s = 1/7: 0.6 → 4.2 → 4, 0.25 → 1.75 → 2
>>> q, s = quantize_absmax(w, bits=4)
>>> q.tolist(), round(float(s), 4)
([[4, -7, 2, 0]], 0.1429)
>>> quantize_absmax(w, bits=4, group_size=3)
Traceback (most recent call last):
...
ValueError: group_size=3 does not divide the weight's width K=4 (weight shape (1, 4))
"""

from __future__ import annotations

import torch

#: Every format :func:`round_trip` knows, with what it stores per weight.
FORMATS: dict[str, str] = {
    "int8": "absmax INT8 per output row, fp32 scale per row",
    "int8_zero_point": "zero-point INT8 per output row, fp32 scale and uint8 zero per row",
    "int4": "absmax INT4 per group of group_size inputs, fp32 scale per group",
    "int4_zero_point": "zero-point INT4 per group, fp32 scale and 4-bit zero per group",
    "q8_0": "ggml Q8_0: blocks of 32, fp16 scale, int8 codes (8.5 bits per weight)",
    "q4_0": "ggml Q4_0: blocks of 32, fp16 scale, 4-bit codes (4.5 bits per weight)",
}


def check_weight(w: object, name: str = "weight") -> torch.Tensor:
    """Raise ValueError naming ``name`` unless ``w`` is a finite, 2-D floating-point tensor (N, K)."""
    if not isinstance(w, torch.Tensor) or w.ndim != 2 or not w.is_floating_point():
        raise ValueError(f"{name} must be a 2-D floating-point tensor (N, K), got "
                         f"{getattr(w, 'shape', type(w).__name__)} {getattr(w, 'dtype', '')}")
    bad = ~torch.isfinite(w)
    if bad.any():
        first = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(f"{name} has {int(bad.sum())} non-finite values (NaN or ±inf), the first at index {first} "
                         f"of shape {tuple(w.shape)}: a quantiser's scale would be NaN or inf")
    return w


def check_bits(bits: object) -> int:
    if not isinstance(bits, int) or isinstance(bits, bool) or not 2 <= bits <= 8:
        raise ValueError(f"bits must be an integer from 2 to 8, got {bits!r}")
    return bits


def check_group_size(w: torch.Tensor, group_size: int | None) -> int:
    """The group size to use (``None``: the whole row, K); ValueError naming group_size unless it divides K."""
    k = w.shape[1]
    if group_size is None:
        return k
    if not isinstance(group_size, int) or isinstance(group_size, bool) or group_size <= 0:
        raise ValueError(f"group_size must be a positive integer or None (one group per row), got {group_size!r}")
    if k % group_size:
        raise ValueError(f"group_size={group_size} does not divide the weight's width K={k} (weight shape "
                         f"{tuple(w.shape)})")
    return group_size


def quantize_absmax(w: torch.Tensor, bits: int = 8, group_size: int | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric quantisation: (q int8 (N, K), scales float32 (N, K / group_size)); ``None`` means one group per row."""
    check_weight(w)
    qmax = 2 ** (check_bits(bits) - 1) - 1
    g = check_group_size(w, group_size)
    n, k = w.shape
    groups = w.float().reshape(n, k // g, g)                                   # (N, G, g)
    scales = groups.abs().amax(dim=2).clamp_min(1e-12) / qmax                 # (N, G)
    q = torch.round(groups / scales[..., None]).clamp(-qmax, qmax)
    return q.reshape(n, k).to(torch.int8), scales


def dequantize_absmax(q: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """Ŵ = s q, float32 (N, K); the group size is K / scales.shape[1]."""
    n, k = q.shape
    g = k // scales.shape[1]
    return (q.float().reshape(n, k // g, g) * scales[..., None]).reshape(n, k)


def quantize_zero_point(w: torch.Tensor, bits: int = 8, group_size: int | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Asymmetric quantisation: (q uint8 (N, K) in [0, 2^b − 1], scales float32 (N, G), zeros uint8 (N, G))."""
    check_weight(w)
    qmax = 2 ** check_bits(bits) - 1
    g = check_group_size(w, group_size)
    n, k = w.shape
    groups = w.float().reshape(n, k // g, g)
    lo = groups.amin(dim=2).clamp_max(0.0)                                   # the range always holds 0,
    hi = groups.amax(dim=2).clamp_min(0.0)                                   # so zero padding stays exact
    scales = (hi - lo).clamp_min(1e-12) / qmax
    zeros = torch.round(-lo / scales).clamp(0, qmax)
    q = (torch.round(groups / scales[..., None]) + zeros[..., None]).clamp(0, qmax)
    return q.reshape(n, k).to(torch.uint8), scales, zeros.to(torch.uint8)


def dequantize_zero_point(q: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor) -> torch.Tensor:
    """Ŵ = s (q − z), float32 (N, K)."""
    n, k = q.shape
    g = k // scales.shape[1]
    shifted = q.float().reshape(n, k // g, g) - zeros.float()[..., None]
    return (shifted * scales[..., None]).reshape(n, k)


def quantize_int8(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(q int8 (N, K), scale float32 (N,)) with per-output-channel absmax scaling."""
    q, scales = quantize_absmax(w, bits=8)
    return q, scales[:, 0].contiguous()


def dequantize_int8(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return q.float() * scale[:, None]


def pack_int4(q: torch.Tensor) -> torch.Tensor:
    """Signed 4-bit codes (N, K) in [−8, 7] → bytes (N, K/2): q[2j] + 8 in the low nibble, q[2j+1] + 8 in the high."""
    if q.ndim != 2 or q.shape[1] % 2:
        raise ValueError(f"q must be 2-D with an even number of columns, got shape {tuple(q.shape)}")
    if q.numel() and (q.min() < -8 or q.max() > 7):
        raise ValueError(f"q must hold 4-bit codes in [-8, 7], got values in [{int(q.min())}, {int(q.max())}]")
    u = (q.to(torch.int16) + 8).to(torch.uint8)
    return u[:, 0::2] | (u[:, 1::2] << 4)


def quantize_int4(w: torch.Tensor, group_size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """(packed uint8 (N, K/2), scales float32 (N, K/group_size)), symmetric per group."""
    check_weight(w)
    if isinstance(group_size, int) and group_size % 2:
        raise ValueError(f"group_size must be even (two codes share a byte), got {group_size}")
    q, scales = quantize_absmax(w, bits=4, group_size=group_size)
    return pack_int4(q), scales


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


def round_trip(w: torch.Tensor, fmt: str, group_size: int | None = None) -> torch.Tensor:
    """Quantise ``w`` (N, K) in format ``fmt`` (a key of :data:`FORMATS`) and dequantise it: Ŵ, float32 (N, K).

    ``group_size`` applies to "int4" and "int4_zero_point" (``None``: one group per row);
    the INT8 formats use one group per row, the ggml formats blocks of 32.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format fmt={fmt!r}; known formats: {', '.join(FORMATS)}")
    check_weight(w)
    if fmt == "int8":
        return dequantize_absmax(*quantize_absmax(w, 8))
    if fmt == "int8_zero_point":
        return dequantize_zero_point(*quantize_zero_point(w, 8))
    if fmt == "int4":
        return dequantize_absmax(*quantize_absmax(w, 4, group_size))
    if fmt == "int4_zero_point":
        return dequantize_zero_point(*quantize_zero_point(w, 4, group_size))
    from book.quant import ggml

    quantize, dequantize = {"q8_0": (ggml.quantize_q8_0, ggml.dequantize_q8_0),
                            "q4_0": (ggml.quantize_q4_0, ggml.dequantize_q4_0)}[fmt]
    return dequantize(quantize(w))
