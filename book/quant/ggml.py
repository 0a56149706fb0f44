"""ggml's Q8_0 and Q4_0 block formats, byte for byte as llama.cpp writes them into GGUF files.

A row of K weights (K a multiple of 32) is cut into blocks of ``QK = 32``
consecutive values; each block is stored on its own, scale first:

* **Q8_0**, 34 bytes: d = max |x| / 127 as fp16 (2 bytes, little-endian), then
  32 int8 codes q = roundf(x / d) (round half away from zero). 8.5 bits per weight.
* **Q4_0**, 18 bytes: d = m / −8 as fp16, where m is the block's value of largest
  magnitude *with its sign* (the first one on a tie), then 16 bytes of 4-bit codes
  q = min(15, trunc(x / d + 8.5)); byte j holds q[j] in its low nibble and
  q[j + 16] in its high nibble. x̂ = d (q − 8), so m itself is stored exactly
  as code 0 (−8 · d = m) and the 16th level is not wasted. 4.5 bits per weight.

Both quantisers compute the codes with the fp32 scale and store its fp16
rounding, as ggml's reference ``quantize_row_q8_0_ref`` / ``quantize_row_q4_0_ref``
do, so the bytes equal those of ``gguf.quants.quantize`` (the Python port in
llama.cpp's ``gguf`` package) exactly. Taught in p3-iii-gguf.

>>> import torch
>>> x = torch.linspace(-1, 2, 32)[None]
>>> blocks = quantize_q4_0(x)
>>> blocks.shape, blocks.dtype                       # one block of 2 + 16 bytes
(torch.Size([1, 18]), torch.uint8)
>>> float(dequantize_q4_0(blocks)[0, -1])           # the largest value (2.0) is stored exactly
2.0
"""

from __future__ import annotations

import sys

import torch

from book.quant.weight_only import check_weight

QK = 32                                         #: values per block
BLOCK_BYTES = {"q8_0": 2 + QK, "q4_0": 2 + QK // 2}
BITS_PER_WEIGHT = {fmt: 8 * nbytes / QK for fmt, nbytes in BLOCK_BYTES.items()}


def _blocks(w: torch.Tensor, name: str = "w") -> torch.Tensor:
    """w (N, K) float → (N·K/32, 32) float32 blocks; ValueError unless K is a multiple of 32."""
    check_weight(w, name)
    if w.shape[1] % QK:
        raise ValueError(f"{name} has shape {tuple(w.shape)}: its width K={w.shape[1]} must be a multiple of "
                         f"the block size {QK}")
    return w.float().reshape(-1, QK)


def _fp16_bytes(d: torch.Tensor) -> torch.Tensor:
    """(n, 1) float32 → (n, 2) uint8: the fp16 value's bytes, little-endian as in a GGUF file."""
    out = d.to(torch.float16).contiguous().view(torch.uint8)
    return out if sys.byteorder == "little" else out.flip(-1)


def _from_fp16_bytes(b: torch.Tensor) -> torch.Tensor:
    if sys.byteorder != "little":
        b = b.flip(-1)
    return b.contiguous().view(torch.float16).float()


def _check_data(data: torch.Tensor, fmt: str) -> torch.Tensor:
    size = BLOCK_BYTES[fmt]
    if not isinstance(data, torch.Tensor) or data.dtype != torch.uint8 or data.ndim != 2 or data.shape[1] % size:
        raise ValueError(f"data must be a 2-D uint8 tensor of whole {fmt.upper()} blocks ({size} bytes each), got "
                         f"{getattr(data, 'shape', type(data).__name__)} {getattr(data, 'dtype', '')}")
    return data.reshape(-1, size)


def roundf(x: torch.Tensor) -> torch.Tensor:
    """C's roundf: to the nearest integer, halves away from zero (torch.round goes to even).

    Computed as floor(|x|) + floor(2·frac(|x|)), which is exact in floating point,
    unlike floor(|x| + 0.5) (0.49999997 + 0.5 rounds up to 1 in fp32).
    """
    a = x.abs()
    whole = torch.floor(a)
    return torch.sign(x) * (whole + torch.floor(2 * (a - whole)))


def quantize_q8_0(w: torch.Tensor) -> torch.Tensor:
    """w (N, K) → Q8_0 bytes (N, K/32 · 34): per block, fp16 d then 32 int8 codes."""
    n = w.shape[0] if isinstance(w, torch.Tensor) else 0
    x = _blocks(w)                                                          # (B, 32)
    d = x.abs().amax(dim=1, keepdim=True) / 127                             # (B, 1), fp32
    inv = torch.where(d == 0, torch.zeros_like(d), 1 / d)
    q = roundf(x * inv).to(torch.int8).view(torch.uint8)                    # (B, 32)
    return torch.cat([_fp16_bytes(d), q], dim=1).reshape(n, -1)


def dequantize_q8_0(data: torch.Tensor) -> torch.Tensor:
    """Q8_0 bytes (N, K/32 · 34) → float32 (N, K): x̂ = d · q."""
    blocks = _check_data(data, "q8_0")
    d = _from_fp16_bytes(blocks[:, :2])                                     # (B, 1)
    q = blocks[:, 2:].contiguous().view(torch.int8).float()                 # (B, 32)
    return (d * q).reshape(data.shape[0], -1)


def quantize_q4_0(w: torch.Tensor) -> torch.Tensor:
    """w (N, K) → Q4_0 bytes (N, K/32 · 18): per block, fp16 d then 16 bytes of nibbles."""
    n = w.shape[0] if isinstance(w, torch.Tensor) else 0
    x = _blocks(w)                                                          # (B, 32)
    i = x.abs().argmax(dim=1, keepdim=True)                                 # first index of the largest |x|
    m = torch.gather(x, 1, i)                                               # its signed value
    d = m / -8
    inv = torch.where(d == 0, torch.zeros_like(d), 1 / d)
    q = torch.trunc(x * inv + 8.5).clamp(0, 15).to(torch.uint8)            # (B, 32) in [0, 15]
    nibbles = q[:, :QK // 2] | (q[:, QK // 2:] << 4)                        # byte j: q[j] low, q[j+16] high
    return torch.cat([_fp16_bytes(d), nibbles], dim=1).reshape(n, -1)


def dequantize_q4_0(data: torch.Tensor) -> torch.Tensor:
    """Q4_0 bytes (N, K/32 · 18) → float32 (N, K): x̂ = d · (q − 8)."""
    blocks = _check_data(data, "q4_0")
    d = _from_fp16_bytes(blocks[:, :2])                                     # (B, 1)
    nib = blocks[:, 2:]
    q = torch.cat([nib & 0xF, nib >> 4], dim=1).to(torch.int8) - 8          # (B, 32): low nibbles, then high
    return (d * q.float()).reshape(data.shape[0], -1)
