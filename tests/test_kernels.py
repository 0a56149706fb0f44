"""Every Triton kernel against its PyTorch reference: awkward shapes, dtypes, gradients, bad input.

On a CPU the kernels run in Triton's interpreter (fp32/fp16 only; there
``tl.dot`` is exact fp32); on a CUDA GPU they are compiled. Shapes are chosen
so every mask path runs: tails smaller than a block, sizes of 1, primes.
"""

from __future__ import annotations

import pytest
import torch

from book.checks import assert_close
from book.kernels import INTERPRETED
from book.kernels.flash_attention import attention_reference, flash_attention
from book.kernels.matmul import matmul, matmul_reference
from book.kernels.norm import layer_norm, layer_norm_reference, rms_norm, rms_norm_reference
from book.kernels.paged_attention import paged_attention, paged_attention_reference
from book.kernels.quant_matmul import int4_matmul, int8_matmul
from book.kernels.vector_add import add
from book.quant.weight_only import (
    dequantize_int4,
    int4_matmul_reference,
    int8_matmul_reference,
    quantize_int4,
    quantize_int8,
)

DEV = "cpu" if INTERPRETED else "cuda"
DTYPES = [torch.float32, torch.float16] if INTERPRETED else [torch.float32, torch.float16, torch.bfloat16]
# Tolerances per dtype: fp32 differs only by summation order; half precision by its 11 (fp16) or 8 (bf16) bits.
TOL = {torch.float32: dict(rtol=1e-4, atol=1e-4), torch.float16: dict(rtol=1e-2, atol=1e-2),
       torch.bfloat16: dict(rtol=5e-2, atol=5e-2)}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def rand(*shape, dtype=torch.float32, scale=1.0):
    return (torch.randn(*shape) * scale).to(dtype).to(DEV)


# ------------------------------------------------------------------ vector add

@pytest.mark.parametrize("n", [1, 7, 1024, 1025, 98_431])
@pytest.mark.parametrize("dtype", DTYPES)
def test_add(n, dtype):
    x, y = rand(n, dtype=dtype), rand(n, dtype=dtype)
    assert torch.equal(add(x, y), x + y)


def test_add_errors():
    with pytest.raises(ValueError, match=r"same shape, got \(3,\) and \(4,\)"):
        add(rand(3), rand(4))
    with pytest.raises(TypeError, match="y has dtype float16; supported: float32"):
        add(rand(3), rand(3, dtype=torch.float16))
    with pytest.raises(ValueError, match="x must be contiguous"):
        add(rand(4, 4).t(), rand(4, 4))


# ------------------------------------------------------------------ matmul

@pytest.mark.parametrize("m, k, n", [(1, 1, 1), (37, 45, 29), (64, 64, 64), (100, 3, 70), (183, 78, 131)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul(m, k, n, dtype):
    a, b = rand(m, k, dtype=dtype), rand(k, n, dtype=dtype)
    assert_close(matmul(a, b), matmul_reference(a, b), name=f"matmul {m}x{k}x{n}", **TOL[dtype])


def test_matmul_strided_inputs():
    a, b = rand(50, 40).t(), rand(30, 50).t()   # (40, 50) and (50, 30), both transposed views
    assert_close(matmul(a, b), a @ b, **TOL[torch.float32])


def test_matmul_errors():
    with pytest.raises(ValueError, match=r"inner dimensions differ: a is \(3, 4\), b is \(5, 6\)"):
        matmul(rand(3, 4), rand(5, 6))
    with pytest.raises(ValueError, match="a must have 2 dimensions"):
        matmul(rand(2, 3, 4), rand(4, 5))
    with pytest.raises(TypeError, match="b has dtype float16"):
        matmul(rand(3, 4), rand(4, 5, dtype=torch.float16))


# ------------------------------------------------------------------ LayerNorm / RMSNorm

NORM_SHAPES = [(1, 1), (7, 33), (37, 781), (3, 5, 100), (2, 4097)]


@pytest.mark.parametrize("shape", NORM_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_forward(shape, dtype):
    x, w, b = rand(*shape, dtype=dtype, scale=3.0) + 1, rand(shape[-1], dtype=dtype), rand(shape[-1], dtype=dtype)
    assert_close(layer_norm(x, w, b), layer_norm_reference(x, w, b), name=f"layer_norm {shape}", **TOL[dtype])
    assert_close(rms_norm(x, w), rms_norm_reference(x, w), name=f"rms_norm {shape}", **TOL[dtype])


@pytest.mark.parametrize("shape", NORM_SHAPES)
@pytest.mark.parametrize("rms", [False, True])
def test_norm_backward_matches_autograd(shape, rms):
    x = rand(*shape, scale=2.0).requires_grad_()
    w = rand(shape[-1]).requires_grad_()
    b = None if rms else rand(shape[-1]).requires_grad_()
    params = [x, w] if rms else [x, w, b]
    dy = rand(*shape)
    out = rms_norm(x, w) if rms else layer_norm(x, w, b)
    got = torch.autograd.grad(out, params, dy)
    ref = rms_norm_reference(x, w) if rms else layer_norm_reference(x, w, b)
    want = torch.autograd.grad(ref, params, dy)
    for name, g, r in zip(["dx", "dw", "db"], got, want):
        assert_close(g, r, rtol=1e-4, atol=1e-4, name=f"{name} {shape}")


def test_norm_errors():
    with pytest.raises(ValueError, match=r"weight has shape \(5,\); expected \(4,\)"):
        layer_norm(rand(3, 4), rand(5), rand(4))
    with pytest.raises(ValueError, match=r"bias has shape \(3,\); expected \(4,\)"):
        layer_norm(rand(3, 4), rand(4), rand(3))
    with pytest.raises(TypeError, match="x has dtype int64"):
        rms_norm(torch.ones(2, 3, dtype=torch.long, device=DEV), rand(3))


# ------------------------------------------------------------------ FlashAttention

ATTN_CASES = [(1, 1, 1, 16), (1, 2, 37, 16), (2, 1, 50, 32), (1, 1, 17, 64), (1, 1, 33, 128)]


@pytest.mark.parametrize("b, h, n, d", ATTN_CASES)
@pytest.mark.parametrize("causal", [False, True])
def test_flash_attention_forward_and_backward(b, h, n, d, causal):
    q, k, v = (rand(b, h, n, d).requires_grad_() for _ in range(3))
    out = flash_attention(q, k, v, causal=causal)
    ref = attention_reference(q, k, v, causal=causal)
    assert_close(out, ref, rtol=1e-4, atol=1e-5, name=f"O {b, h, n, d} causal={causal}")
    do = rand(b, h, n, d)
    got = torch.autograd.grad(out, (q, k, v), do)
    want = torch.autograd.grad(ref, (q, k, v), do)
    for name, g, r in zip("QKV", got, want):
        assert_close(g, r, rtol=1e-3, atol=1e-4, name=f"d{name} {b, h, n, d} causal={causal}")


@pytest.mark.parametrize("dtype", [d for d in DTYPES if d != torch.float32])
def test_flash_attention_half_precision(dtype):
    q, k, v = (rand(1, 2, 40, 64, dtype=dtype) for _ in range(3))
    assert_close(flash_attention(q, k, v, causal=True), attention_reference(q, k, v, causal=True), **TOL[dtype])


def test_flash_attention_errors():
    with pytest.raises(ValueError, match=r"head dimension D=48 is not supported"):
        flash_attention(rand(1, 1, 8, 48), rand(1, 1, 8, 48), rand(1, 1, 8, 48))
    with pytest.raises(ValueError, match=r"k has shape \(1, 1, 9, 16\); expected q's shape \(1, 1, 8, 16\)"):
        flash_attention(rand(1, 1, 8, 16), rand(1, 1, 9, 16), rand(1, 1, 9, 16))
    with pytest.raises(ValueError, match="q must have 4 dimensions"):
        flash_attention(rand(8, 16), rand(8, 16), rand(8, 16))


# ------------------------------------------------------------------ weight-only INT8 / INT4

QUANT_CASES = [(1, 50, 128), (3, 37, 256), (8, 1, 64), (40, 70, 128), (100, 33, 384)]


@pytest.mark.parametrize("m, n, k", QUANT_CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_int8_matmul(m, n, k, dtype):
    q, s = quantize_int8(torch.randn(n, k))
    q, s = q.to(DEV), s.to(DEV)
    x = rand(m, k, dtype=dtype)
    assert_close(int8_matmul(x, q, s), int8_matmul_reference(x, q, s), name=f"int8 {m, n, k}", **TOL[dtype])


@pytest.mark.parametrize("m, n, k", QUANT_CASES)
@pytest.mark.parametrize("group", [32, 64])
def test_int4_matmul(m, n, k, group):
    packed, scales = quantize_int4(torch.randn(n, k), group)
    packed, scales = packed.to(DEV), scales.to(DEV)
    for dtype in DTYPES:
        x = rand(m, k, dtype=dtype)
        assert_close(int4_matmul(x, packed, scales, group), int4_matmul_reference(x, packed, scales, group),
                     name=f"int4 {m, n, k} g={group} {dtype}", **TOL[dtype])


def test_quantisers_round_trip_within_half_a_step():
    w = torch.randn(16, 128)
    q, s = quantize_int8(w)
    assert (q.float() * s[:, None] - w).abs().max() <= s.max() / 2 + 1e-6
    packed, scales = quantize_int4(w, 32)
    err = (dequantize_int4(packed, scales, 32) - w).abs().reshape(16, 4, 32).amax(-1)
    assert (err <= scales / 2 + 1e-6).all()
    assert packed.dtype == torch.uint8 and packed.shape == (16, 64)


def test_quant_errors():
    packed, scales = quantize_int4(torch.randn(8, 64), 32)
    with pytest.raises(ValueError, match=r"x has shape \(2, 60\); expected \(M, 64\)"):
        int4_matmul(rand(2, 60), packed.to(DEV), scales.to(DEV), 32)
    with pytest.raises(ValueError, match=r"scales has shape \(8, 2\); expected \(8, 1\)"):
        int4_matmul(rand(2, 64), packed.to(DEV), scales.to(DEV), 64)
    with pytest.raises(TypeError, match="q has dtype float32; supported: int8"):
        int8_matmul(rand(2, 4), rand(3, 4), rand(3))
    with pytest.raises(ValueError, match=r"group_size=32 does not divide the weight's width K=48"):
        quantize_int4(torch.randn(4, 48), 32)


# ------------------------------------------------------------------ paged attention

@pytest.mark.parametrize("b, h, h_kv, d, block, lens", [
    (1, 1, 1, 16, 16, [1]),
    (3, 4, 2, 32, 16, [5, 33, 48]),
    (2, 8, 1, 64, 8, [17, 9]),
    (4, 2, 2, 128, 32, [100, 1, 64, 65]),
    (2, 6, 3, 16, 4, [23, 11]),
])
@pytest.mark.parametrize("dtype", DTYPES)
def test_paged_attention(b, h, h_kv, d, block, lens, dtype):
    max_blocks = max(-(-n // block) for n in lens)
    num_blocks = b * max_blocks + 3
    k_cache, v_cache = rand(num_blocks, h_kv, block, d, dtype=dtype), rand(num_blocks, h_kv, block, d, dtype=dtype)
    table = torch.randperm(num_blocks)[: b * max_blocks].reshape(b, max_blocks).int().to(DEV)  # scattered blocks
    ctx = torch.tensor(lens, dtype=torch.int32, device=DEV)
    q = rand(b, h, d, dtype=dtype)
    assert_close(paged_attention(q, k_cache, v_cache, table, ctx),
                 paged_attention_reference(q, k_cache, v_cache, table, ctx), name="paged attention", **TOL[dtype])


def test_paged_attention_errors():
    k = rand(4, 2, 8, 16)
    table = torch.zeros(1, 2, dtype=torch.int32, device=DEV)
    with pytest.raises(ValueError, match="q has 3 heads, not a multiple of the cache's 2"):
        paged_attention(rand(1, 3, 16), k, k, table, torch.tensor([4], dtype=torch.int32, device=DEV))
    with pytest.raises(ValueError, match=r"context_lens must be in \[1, 16\]"):
        paged_attention(rand(1, 2, 16), k, k, table, torch.tensor([17], dtype=torch.int32, device=DEV))
    with pytest.raises(TypeError, match="block_tables has dtype int64; supported: int32"):
        paged_attention(rand(1, 2, 16), k, k, table.long(), torch.tensor([4], dtype=torch.int32, device=DEV))
