"""Exercise checkers for p3-iii (quantization).

The references are the package's quantisers (:mod:`book.quant`) and, for the
block format, the ``gguf`` package's port of ggml's reference quantiser, which
writes the bytes llama.cpp writes. Inputs are awkward on purpose: widths that
are not powers of two, all-zero blocks, ties at exactly one half, blocks whose
two extremes have opposite signs, and activations with outlier features.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from book.checks import assert_close
from book.exercises import passed, with_hint
from book.quant import gptq


def check_bits_per_weight(fn: Callable[..., float]) -> None:
    """``fn(bits, group_size, scale_bits, zero_bits=0)`` must return the storage cost in bits per weight."""
    cases = [  # (bits, group, scale bits, zero bits, what it is)
        (8, 32, 16, 0, "Q8_0"),
        (4, 32, 16, 0, "Q4_0"),
        (4, 32, 16, 16, "Q4_1 (fp16 scale and fp16 minimum)"),
        (4, 32, 32, 0, "this chapter's INT4 (fp32 scale per group of 32)"),
        (4, 128, 16, 4, "a GPTQ checkpoint (fp16 scale and 4-bit zero per group of 128)"),
        (8, 4096, 32, 0, "per-channel INT8 for a 4096-wide layer"),
        (3, 64, 16, 0, "3-bit, groups of 64"),
    ]
    for bits, group, s_bits, z_bits, what in cases:
        got = fn(bits, group, s_bits, z_bits)
        want = bits + (s_bits + z_bits) / group
        with_hint(lambda: assert_close(float(got), want, rtol=1e-12, atol=0, name=what),
                  "every weight stores its code (bits); every group of group_size weights also stores one "
                  "scale and, for zero-point formats, one zero: spread them over the group")
    passed("bits per weight right for 7 formats (Q8_0, Q4_0, Q4_1, per-channel INT8 and GPTQ-style groups)")


def act_order_reference(w: torch.Tensor, h: torch.Tensor, bits: int = 4) -> torch.Tensor:
    """GPTQ with the columns visited in order of decreasing H_ii (stable), per-channel grid; Ŵ in w's column order."""
    perm = torch.argsort(torch.diag(h), descending=True, stable=True)
    inv = torch.argsort(perm)
    res = gptq.gptq_quantize(w[:, perm], h[perm][:, perm], bits=bits, group_size=None)
    return res.w_hat[:, inv]


def check_act_order(fn: Callable[..., torch.Tensor]) -> None:
    """``fn(w, h, bits)`` must return Ŵ (N, K) of GPTQ run in decreasing-diag(H) order, in w's column order."""
    g = torch.Generator().manual_seed(31)
    for n, k, bits in [(37, 96, 4), (5, 64, 3), (16, 33, 4)]:
        w = torch.randn(n, k, generator=g)
        scale = torch.rand(k, generator=g) * 3 + 0.1                       # inputs of very different sizes
        x = torch.randn(400, k, generator=g) * scale
        h = gptq.hessian(x)
        got = fn(w.clone(), h.clone(), bits)
        assert isinstance(got, torch.Tensor) and got.shape == w.shape, (
            f"return Ŵ with w's shape {tuple(w.shape)}, got {getattr(got, 'shape', type(got).__name__)}")
        want = act_order_reference(w, h, bits)
        plain = gptq.gptq_quantize(w, h, bits=bits).w_hat
        if torch.allclose(got.float(), plain, atol=1e-7) and not torch.allclose(want, plain, atol=1e-7):
            raise AssertionError(f"({n}×{k}, {bits} bits): this is plain GPTQ in column order. Hint: permute "
                                 "the columns of w and both axes of h by argsort(diag(h), descending=True)")
        with_hint(lambda: assert_close(got.float(), want, rtol=0, atol=1e-6, name=f"Ŵ ({n}×{k}, {bits} bits)"),
                  "permute w's columns and h's rows and columns with the same permutation (stable argsort of "
                  "diag(h), descending), run book.quant.gptq.gptq_quantize, then undo the permutation on Ŵ's columns")
    passed("act-order GPTQ = the reference on 3 layers (K = 33 and 3 bits included)")


def _q4_1_cases() -> list[np.ndarray]:
    rng = np.random.default_rng(41)
    ties = np.arange(32, dtype=np.float32)          # max − min = 31: d = 31/15, awkward steps
    ties[5] = 12.4
    lop = np.abs(rng.standard_normal((3, 64))).astype(np.float32) + 0.5     # all positive: min far from 0
    return [rng.standard_normal((37, 96)).astype(np.float32),
            np.zeros((2, 32), np.float32),                                     # d = 0
            np.full((1, 32), 3.25, np.float32),                                # constant block: d = 0, m = 3.25
            ties[None], lop,
            (rng.standard_normal((4, 32)) * 1e-5).astype(np.float32)]          # fp16 subnormal scales


def check_q4_1(quantize: Callable[[torch.Tensor], torch.Tensor],
               dequantize: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Q4_1 bytes must equal ``gguf.quants.quantize(·, Q4_1)``; dequantisation must equal gguf's."""
    import gguf

    qtype = gguf.GGMLQuantizationType.Q4_1
    for i, x in enumerate(_q4_1_cases()):
        ref = gguf.quants.quantize(x, qtype)
        got = quantize(torch.from_numpy(x.copy()))
        assert isinstance(got, torch.Tensor) and got.dtype == torch.uint8, (
            f"case {i}: return a uint8 tensor, got {getattr(got, 'dtype', type(got).__name__)}")
        assert tuple(got.shape) == ref.shape, (
            f"case {i}: bytes of shape {ref.shape} expected (20 per block of 32), got {tuple(got.shape)}")
        diff = np.flatnonzero(got.numpy() != ref)
        if diff.size:
            b = int(diff[0] % ref.shape[1])
            part = "d (bytes 0-1)" if b < 2 else "m (bytes 2-3)" if b < 4 else f"nibbles (byte {b - 4} of 16)"
            raise AssertionError(f"case {i} (shape {x.shape}): {diff.size} bytes differ from gguf's, the first in "
                                 f"{part}. Hint: d = (max − min)/15 and m = min in fp32, both stored as fp16; "
                                 "q = min(15, trunc((x − min)·(1/d) + 0.5)) with 1/d taken as 0 when d = 0; "
                                 "byte j = q[j] | q[j+16] << 4")
        back = dequantize(torch.from_numpy(ref.copy()))
        with_hint(lambda: assert_close(back, gguf.quants.dequantize(ref, qtype), rtol=0, atol=0,
                                       name=f"dequantised case {i}"),
                  "x̂ = d·q + m with d and m read back from their fp16 bytes")
    passed("Q4_1 byte-identical to gguf on 6 inputs (zero and constant blocks, fp16-subnormal scales included); "
           "dequantisation equal")


def int8_decomposition_reference(x: torch.Tensor, w: torch.Tensor, threshold: float = 6.0) -> torch.Tensor:
    """LLM.int8(): outlier columns (max |x| ≥ threshold) in float; the rest in vector-wise INT8."""
    x, w = x.double(), w.double()
    outlier = (x.abs() >= threshold).any(dim=0)                            # (K,)
    y = x[:, outlier] @ w[:, outlier].T
    xr, wr = x[:, ~outlier], w[:, ~outlier]
    sx = xr.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127        # one scale per row of x
    sw = wr.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127        # one per output row of W
    qx, qw = torch.round(xr / sx), torch.round(wr / sw)
    return y + (qx @ qw.T) * sx * sw.T


def check_int8_decomposition(fn: Callable[..., torch.Tensor]) -> None:
    """``fn(x, w, threshold)`` must compute x Wᵀ the LLM.int8() way: float outlier columns + vector-wise INT8.

    x (M, K) and w (N, K) arrive in float64, so that the codes do not depend on float32 rounding.
    """
    g = torch.Generator().manual_seed(43)
    for m, n, k, n_out in [(30, 20, 64, 3), (7, 33, 100, 0), (1, 5, 48, 1), (64, 16, 256, 8)]:
        x = torch.randn(m, k, generator=g, dtype=torch.float64)
        cols = torch.randperm(k, generator=g)[:n_out]
        x[:, cols] *= 25                                                      # outlier features
        w = torch.randn(n, k, generator=g, dtype=torch.float64) * 0.05
        got = fn(x.clone(), w.clone(), 6.0)
        assert isinstance(got, torch.Tensor) and got.shape == (m, n), (
            f"return y of shape ({m}, {n}), got {getattr(got, 'shape', type(got).__name__)}")
        want = int8_decomposition_reference(x, w, 6.0)
        hint = ("columns of x whose largest |value| reaches the threshold go through a float matmul; the rest get "
                "one absmax scale per row of x and one per row of W (127 levels), integer codes by round-to-"
                "nearest, an integer matmul, and the outer product of the two scale vectors")
        with_hint(lambda: assert_close(got.double(), want, rtol=1e-5, atol=1e-5, name=f"y ({m}×{k} @ {k}×{n})"),
                  hint)
        if (x.abs() >= 6.0).any():                                            # some column is an outlier
            exact = x.double() @ w.double().T
            plain = int8_decomposition_reference(x, w, float("inf"))       # no column kept in float
            assert (got.double() - exact).abs().max() < (plain - exact).abs().max(), (
                "with outlier columns present, the decomposition must beat INT8 without it. Hint: " + hint)
    passed("LLM.int8() decomposition = the reference on 4 shapes (no outliers and a single row included), "
           "and it beats plain INT8 whenever outliers are present")
