"""FlashAttention in Triton: exact attention without materialising the N×N matrix.

Forward: one program per (block of BLOCK_M queries, batch·head). It streams
over blocks of BLOCK_N keys and values, keeping a running row maximum m, a
running denominator l and an unnormalised output in on-chip memory (the
online softmax), and writes O and the log-sum-exp L = m + log l per row.
Memory traffic is O(N·d) instead of O(N²), and the extra memory is O(N).

Backward (recomputation instead of storing P): with Δ_i = Σ_d dO_id O_id,
P_ij = exp(S_ij − L_i), dV = Pᵀ dO, dP = dO Vᵀ, dS = P ⊙ (dP − Δ),
dQ = dS K · scale and dK = dSᵀ Q · scale. One kernel computes dK and dV per
key block (looping over queries), another dQ per query block (looping over
keys). Exponentials use exp2 with log2(e) folded into the scale.

Shapes: q, k, v, o are (B, H, N, D) with D in {16, 32, 64, 128}; N need not
be a multiple of the blocks (masks handle the tails); causal or not.
Taught in Part III §I-b.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from book.kernels import INTERPRETED
from book.kernels._validate import FLOAT_DTYPES, LOG2E, check_device, check_tensor
from book.nn.attention import attention

SUPPORTED_DTYPES = FLOAT_DTYPES
HEAD_DIMS = (16, 32, 64, 128)


@triton.jit
def _attn_fwd(
    Q, K, V, O, LSE,                  # *T (B, H, N, D) ×4; *fp32 (B·H, N) log-sum-exp (base 2)
    qk_scale,                         # softmax scale × log2(e)
    stride_b, stride_h, stride_n, stride_d,   # shared by q, k, v, o (contiguous inputs)
    H, N,
    CAUSAL: tl.constexpr, IEEE: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr,
):
    start_m = tl.program_id(0)
    off_bh = tl.program_id(1)
    base = (off_bh // H) * stride_b + (off_bh % H) * stride_h
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    q = tl.load(Q + base + offs_m[:, None] * stride_n + offs_d[None, :] * stride_d,
                mask=offs_m[:, None] < N, other=0.0)                              # (BLOCK_M, D)
    m_i = tl.full((BLOCK_M,), float("-inf"), tl.float32)
    l_i = tl.zeros((BLOCK_M,), tl.float32)
    acc = tl.zeros((BLOCK_M, HEAD_DIM), tl.float32)
    hi = tl.minimum((start_m + 1) * BLOCK_M, N) if CAUSAL else N   # causal: keys up to the last query
    for start_n in range(0, hi, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        kt = tl.load(K + base + offs_n[None, :] * stride_n + offs_d[:, None] * stride_d,
                     mask=offs_n[None, :] < N, other=0.0)                         # (D, BLOCK_N)
        if IEEE:
            s = tl.dot(q, kt, input_precision="ieee") * qk_scale
        else:
            s = tl.dot(q, kt) * qk_scale                                           # (BLOCK_M, BLOCK_N)
        keep = offs_n[None, :] < N
        if CAUSAL:
            keep = keep & (offs_m[:, None] >= offs_n[None, :])
        s = tl.where(keep, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        p = tl.math.exp2(s - m_new[:, None])
        alpha = tl.math.exp2(m_i - m_new)          # rescales what was accumulated so far
        l_i = l_i * alpha + tl.sum(p, axis=1)
        v = tl.load(V + base + offs_n[:, None] * stride_n + offs_d[None, :] * stride_d,
                    mask=offs_n[:, None] < N, other=0.0)                          # (BLOCK_N, D)
        if IEEE:
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision="ieee")
        else:
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new
    acc = acc / l_i[:, None]
    row_ok = offs_m < N
    tl.store(LSE + off_bh * N + offs_m, m_i + tl.math.log2(l_i), mask=row_ok)
    tl.store(O + base + offs_m[:, None] * stride_n + offs_d[None, :] * stride_d,
             acc.to(O.dtype.element_ty), mask=row_ok[:, None])


@triton.jit
def _attn_bwd_delta(
    O, DO, DELTA,                     # *T (B, H, N, D) ×2; *fp32 (B·H, N)
    stride_b, stride_h, stride_n, stride_d, H, N,
    BLOCK_M: tl.constexpr, HEAD_DIM: tl.constexpr,
):
    start_m = tl.program_id(0)
    off_bh = tl.program_id(1)
    base = (off_bh // H) * stride_b + (off_bh % H) * stride_h
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    ptrs = base + offs_m[:, None] * stride_n + offs_d[None, :] * stride_d
    mask = offs_m[:, None] < N
    o = tl.load(O + ptrs, mask=mask, other=0.0).to(tl.float32)
    do = tl.load(DO + ptrs, mask=mask, other=0.0).to(tl.float32)
    tl.store(DELTA + off_bh * N + offs_m, tl.sum(o * do, axis=1), mask=offs_m < N)


@triton.jit
def _attn_bwd_dkdv(
    Q, K, V, DO, DK, DV, LSE, DELTA,  # *T (B, H, N, D) ×6; *fp32 (B·H, N) ×2
    sm_scale, qk_scale,
    stride_b, stride_h, stride_n, stride_d, H, N,
    CAUSAL: tl.constexpr, IEEE: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr,
):
    start_n = tl.program_id(0) * BLOCK_N
    off_bh = tl.program_id(1)
    base = (off_bh // H) * stride_b + (off_bh % H) * stride_h
    offs_n = start_n + tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    kv_ptrs = base + offs_n[:, None] * stride_n + offs_d[None, :] * stride_d
    k = tl.load(K + kv_ptrs, mask=offs_n[:, None] < N, other=0.0)                 # (BLOCK_N, D)
    v = tl.load(V + kv_ptrs, mask=offs_n[:, None] < N, other=0.0)
    dk = tl.zeros((BLOCK_N, HEAD_DIM), tl.float32)
    dv = tl.zeros((BLOCK_N, HEAD_DIM), tl.float32)
    lo = (start_n // BLOCK_M) * BLOCK_M if CAUSAL else 0   # causal: earlier queries never see these keys
    for start_m in range(lo, N, BLOCK_M):
        offs_m = start_m + tl.arange(0, BLOCK_M)
        row_ok = offs_m < N
        q_ptrs = base + offs_m[:, None] * stride_n + offs_d[None, :] * stride_d
        q = tl.load(Q + q_ptrs, mask=row_ok[:, None], other=0.0)                   # (BLOCK_M, D)
        do = tl.load(DO + q_ptrs, mask=row_ok[:, None], other=0.0)
        lse = tl.load(LSE + off_bh * N + offs_m, mask=row_ok, other=0.0)
        delta = tl.load(DELTA + off_bh * N + offs_m, mask=row_ok, other=0.0)
        if IEEE:
            s = tl.dot(q, tl.trans(k), input_precision="ieee") * qk_scale
        else:
            s = tl.dot(q, tl.trans(k)) * qk_scale                                  # (BLOCK_M, BLOCK_N)
        keep = row_ok[:, None] & (offs_n[None, :] < N)
        if CAUSAL:
            keep = keep & (offs_m[:, None] >= offs_n[None, :])
        p = tl.where(keep, tl.math.exp2(s - lse[:, None]), 0.0)
        if IEEE:
            dv += tl.dot(tl.trans(p.to(do.dtype)), do, input_precision="ieee")
            dp = tl.dot(do, tl.trans(v), input_precision="ieee")
        else:
            dv += tl.dot(tl.trans(p.to(do.dtype)), do)
            dp = tl.dot(do, tl.trans(v))
        ds = p * (dp - delta[:, None])
        if IEEE:
            dk += tl.dot(tl.trans(ds.to(q.dtype)), q, input_precision="ieee")
        else:
            dk += tl.dot(tl.trans(ds.to(q.dtype)), q)
    tl.store(DK + kv_ptrs, (dk * sm_scale).to(DK.dtype.element_ty), mask=offs_n[:, None] < N)
    tl.store(DV + kv_ptrs, dv.to(DV.dtype.element_ty), mask=offs_n[:, None] < N)


@triton.jit
def _attn_bwd_dq(
    Q, K, V, DO, DQ, LSE, DELTA,
    sm_scale, qk_scale,
    stride_b, stride_h, stride_n, stride_d, H, N,
    CAUSAL: tl.constexpr, IEEE: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr,
):
    start_m = tl.program_id(0) * BLOCK_M
    off_bh = tl.program_id(1)
    base = (off_bh // H) * stride_b + (off_bh % H) * stride_h
    offs_m = start_m + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    row_ok = offs_m < N
    q_ptrs = base + offs_m[:, None] * stride_n + offs_d[None, :] * stride_d
    q = tl.load(Q + q_ptrs, mask=row_ok[:, None], other=0.0)
    do = tl.load(DO + q_ptrs, mask=row_ok[:, None], other=0.0)
    lse = tl.load(LSE + off_bh * N + offs_m, mask=row_ok, other=0.0)
    delta = tl.load(DELTA + off_bh * N + offs_m, mask=row_ok, other=0.0)
    dq = tl.zeros((BLOCK_M, HEAD_DIM), tl.float32)
    hi = tl.minimum(start_m + BLOCK_M, N) if CAUSAL else N
    for start_n in range(0, hi, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        kv_ptrs = base + offs_n[:, None] * stride_n + offs_d[None, :] * stride_d
        k = tl.load(K + kv_ptrs, mask=offs_n[:, None] < N, other=0.0)
        v = tl.load(V + kv_ptrs, mask=offs_n[:, None] < N, other=0.0)
        if IEEE:
            s = tl.dot(q, tl.trans(k), input_precision="ieee") * qk_scale
            dp = tl.dot(do, tl.trans(v), input_precision="ieee")
        else:
            s = tl.dot(q, tl.trans(k)) * qk_scale
            dp = tl.dot(do, tl.trans(v))
        keep = row_ok[:, None] & (offs_n[None, :] < N)
        if CAUSAL:
            keep = keep & (offs_m[:, None] >= offs_n[None, :])
        p = tl.where(keep, tl.math.exp2(s - lse[:, None]), 0.0)
        ds = p * (dp - delta[:, None])
        if IEEE:
            dq += tl.dot(ds.to(k.dtype), k, input_precision="ieee")
        else:
            dq += tl.dot(ds.to(k.dtype), k)
    tl.store(DQ + q_ptrs, (dq * sm_scale).to(DQ.dtype.element_ty), mask=row_ok[:, None])


def _blocks(head_dim: int, backward: bool = False) -> tuple[int, int, int, int]:
    """(BLOCK_M, BLOCK_N, num_warps, num_stages): small tiles in the interpreter, Hopper-sized on a GPU."""
    if INTERPRETED:
        return 16, 16, 4, 1
    if backward:
        return 64, 64, 4 if head_dim <= 64 else 8, 2
    return 128, 64, 4 if head_dim <= 64 else 8, 3


class _FlashAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, causal, sm_scale):
        B, H, N, D = q.shape
        o = torch.empty_like(q)
        lse = torch.empty((B * H, N), device=q.device, dtype=torch.float32)
        bm, bn, warps, stages = _blocks(D)
        ieee = q.dtype == torch.float32
        grid = (triton.cdiv(N, bm), B * H)
        _attn_fwd[grid](q, k, v, o, lse, sm_scale * LOG2E, *q.stride(), H, N, CAUSAL=causal, IEEE=ieee,
                        BLOCK_M=bm, BLOCK_N=bn, HEAD_DIM=D, num_warps=warps, num_stages=stages)
        ctx.save_for_backward(q, k, v, o, lse)
        ctx.causal, ctx.sm_scale = causal, sm_scale
        return o

    @staticmethod
    def backward(ctx, do):
        q, k, v, o, lse = ctx.saved_tensors
        do = do.contiguous()
        B, H, N, D = q.shape
        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        delta = torch.empty_like(lse)
        bm, bn, warps, stages = _blocks(D, backward=True)
        ieee = q.dtype == torch.float32
        _attn_bwd_delta[(triton.cdiv(N, bm), B * H)](o, do, delta, *q.stride(), H, N, BLOCK_M=bm, HEAD_DIM=D)
        common = dict(CAUSAL=ctx.causal, IEEE=ieee, BLOCK_M=bm, BLOCK_N=bn, HEAD_DIM=D,
                      num_warps=warps, num_stages=stages)
        scale, qk_scale = ctx.sm_scale, ctx.sm_scale * LOG2E
        _attn_bwd_dkdv[(triton.cdiv(N, bn), B * H)](q, k, v, do, dk, dv, lse, delta, scale, qk_scale,
                                                    *q.stride(), H, N, **common)
        _attn_bwd_dq[(triton.cdiv(N, bm), B * H)](q, k, v, do, dq, lse, delta, scale, qk_scale,
                                                  *q.stride(), H, N, **common)
        return dq, dk, dv, None, None


def flash_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
                    sm_scale: float | None = None) -> torch.Tensor:
    """softmax(q kᵀ · scale [+ causal mask]) v for (B, H, N, D) tensors; differentiable.

    ``sm_scale`` defaults to 1/√D. Inputs are made contiguous if they are not.
    """
    check_tensor("q", q, ndim=4, dtypes=SUPPORTED_DTYPES)
    for name, t in (("k", k), ("v", v)):
        check_tensor(name, t, ndim=4, dtypes=(q.dtype,))
        if t.shape != q.shape:
            raise ValueError(f"{name} has shape {tuple(t.shape)}; expected q's shape {tuple(q.shape)} "
                             "(B, H, N, D): self-attention with equal lengths and head counts")
    if q.shape[-1] not in HEAD_DIMS:
        raise ValueError(f"head dimension D={q.shape[-1]} is not supported; use one of {HEAD_DIMS}")
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_device(name, t, INTERPRETED)
    if q.shape[2] == 0 or q.shape[0] * q.shape[1] == 0:
        return torch.empty_like(q)
    scale = 1.0 / math.sqrt(q.shape[-1]) if sm_scale is None else float(sm_scale)
    return _FlashAttention.apply(q.contiguous(), k.contiguous(), v.contiguous(), bool(causal), scale)


def attention_reference(q, k, v, causal=False, sm_scale=None):
    """Naive attention (materialises the N×N matrix) in fp32, cast back to q's dtype: :func:`book.nn.attention.attention`."""
    return attention(q, k, v, causal=causal, scale=sm_scale, compute_dtype=torch.float32)[0]
