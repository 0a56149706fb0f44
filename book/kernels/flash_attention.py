"""FlashAttention in Triton: exact attention without materialising the T×T score matrix.

Shapes follow the book's notation: q, k, v, o are (B, H, T, D), batch × heads ×
sequence length × head dimension, with D in {16, 32, 64, 128}; keys have the
queries' length (self-attention, S = T), and T need not be a multiple of the
tiles (masks handle the tails). A program holds a tile of ``BLOCK_M`` query
rows (B_r in the chapter) and walks over tiles of ``BLOCK_N`` keys (B_c).
Exponentials are exp2 with log₂e folded into the scale, so m and L are in
base 2. Equation labels in brackets are the chapter's. Taught in p3-i-b-forward
and p3-i-b-backward.

Forward, ``_attn_fwd``: one program per (query block i, batch·head). For each
key block j it updates a running row maximum m, row sum ℓ and unnormalised
output A, all on chip (the online softmax):

    (F1)  S = Q_i K_jᵀ · scale                                  [ib-attn, one tile]
    (F2)  m_new = max(m, rowmax S)                               [ib-m]
    (F3)  P̃ = exp(S − m_new),  α = exp(m − m_new)
    (F4)  ℓ ← α ℓ + rowsum P̃                                     [ib-l]
    (F5)  A ← α A + P̃ V_j                                        [ib-acc]
    (F6)  after the last block: O_i = A / ℓ,  L_i = m + log ℓ    [ib-lse]

HBM traffic is O(T·D) per head instead of O(T²), and the extra memory is the T
numbers of L. The causal mask is split: key blocks wholly left of the diagonal
are folded in with no mask, and only the one or two blocks that cross it (and,
without the causal mask, the ragged last block) pay for the element-wise
compare-and-select, because with only two tile products per step the forward
is limited by its elementwise softmax work, which the mask would grow by about
a third on every tile; the ≥ 0.8× SDPA target of :mod:`book.kernels.bench`
counts on that saving.

Backward, recomputing P from L instead of storing it, with
Δ_i = Σ_d dO_id O_id from ``_attn_bwd_delta``:

    (B1)  P = exp(S − L_i)                                       [recomputation]
    (B2)  dV_j += Pᵀ dO_i                                        [ib-dv]
    (B3)  dP = dO_i V_jᵀ                                         [ib-dv]
    (B4)  dS = P ∘ (dP − Δ_i)                                    [ib-ds]
    (B5)  dK_j += dSᵀ Q_i · scale,   dQ_i += dS K_j · scale      [ib-dq]

``_attn_bwd_dkdv`` computes dK and dV per key block (looping over query
blocks), ``_attn_bwd_dq`` dQ per query block (looping over key blocks), so no
two programs write the same rows. They mask every tile: with three or four
tile products per step instead of two, the mask is a smaller share of their
work, and their target is 0.5× SDPA.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from book.kernels import INTERPRETED
from book.kernels.inputs import FLOAT_DTYPES, check_device, check_tensor
from book.kernels.launch import LOG2E, dot_precision
from book.nn.attention import attention

SUPPORTED_DTYPES = FLOAT_DTYPES
HEAD_DIMS = (16, 32, 64, 128)


@triton.jit
def _attn_fwd_tiles(
    acc, l_i, m_i,                    # running state of the BLOCK_M rows: A (BLOCK_M, D), ℓ and m (BLOCK_M,)
    q, offs_m,                        # the query tile (BLOCK_M, D) and its row indices
    K, V, base, stride_t, stride_d,   # keys and values of this (batch, head)
    lo, hi, T, qk_scale,              # fold in key blocks lo, lo + BLOCK_N, … below hi
    MASK: tl.constexpr,               # False: every key of every tile is visible to every row, no mask
    CAUSAL: tl.constexpr, DOT_PRECISION: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr,
):
    offs_d = tl.arange(0, HEAD_DIM)
    for start_n in range(lo, hi, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        kt = tl.load(K + base + offs_n[None, :] * stride_t + offs_d[:, None] * stride_d,
                     mask=offs_n[None, :] < T, other=0.0)                                 # (D, BLOCK_N)
        s = tl.dot(q, kt, input_precision=DOT_PRECISION) * qk_scale                       # F1 (BLOCK_M, BLOCK_N)
        if MASK:                                      # the diagonal block(s), or the ragged last block
            keep = offs_n[None, :] < T
            if CAUSAL:
                keep = keep & (offs_m[:, None] >= offs_n[None, :])
            s = tl.where(keep, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, axis=1))                                        # F2
        p = tl.math.exp2(s - m_new[:, None])                                              # F3
        alpha = tl.math.exp2(m_i - m_new)                                                 # F3: ≤ 1
        l_i = l_i * alpha + tl.sum(p, axis=1)                                             # F4
        v = tl.load(V + base + offs_n[:, None] * stride_t + offs_d[None, :] * stride_d,
                    mask=offs_n[:, None] < T, other=0.0)                                  # (BLOCK_N, D)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=DOT_PRECISION)   # F5
        m_i = m_new
    return acc, l_i, m_i


@triton.jit
def _attn_fwd(
    Q, K, V, O, LSE,                  # *T (B, H, T, D) ×4; *fp32 (B·H, T) log-sum-exp (base 2)
    qk_scale,                         # softmax scale × log2(e)
    stride_b, stride_h, stride_t, stride_d,   # shared by q, k, v, o (contiguous inputs)
    H, T,                             # heads; sequence length of queries and keys
    CAUSAL: tl.constexpr,
    DOT_PRECISION: tl.constexpr,      # tl.dot's input_precision: "ieee" for fp32, "tf32" (the default) otherwise
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr,
):
    tl.static_assert(BLOCK_M % BLOCK_N == 0, "the diagonal must start on a key-block boundary")
    start_m = tl.program_id(0)
    off_bh = tl.program_id(1)
    base = (off_bh // H) * stride_b + (off_bh % H) * stride_h
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    q = tl.load(Q + base + offs_m[:, None] * stride_t + offs_d[None, :] * stride_d,
                mask=offs_m[:, None] < T, other=0.0)                                      # (BLOCK_M, D), read once
    m_i = tl.full((BLOCK_M,), float("-inf"), tl.float32)
    l_i = tl.zeros((BLOCK_M,), tl.float32)
    acc = tl.zeros((BLOCK_M, HEAD_DIM), tl.float32)
    if CAUSAL:   # keys before this block's first query are seen by all its rows; stop after its last query
        unmasked_end, end = start_m * BLOCK_M, tl.minimum((start_m + 1) * BLOCK_M, T)
    else:        # full key blocks need no mask; only a ragged last block does
        unmasked_end, end = (T // BLOCK_N) * BLOCK_N, T
    acc, l_i, m_i = _attn_fwd_tiles(acc, l_i, m_i, q, offs_m, K, V, base, stride_t, stride_d, 0, unmasked_end,
                                    T, qk_scale, False, CAUSAL, DOT_PRECISION, BLOCK_N, HEAD_DIM)
    acc, l_i, m_i = _attn_fwd_tiles(acc, l_i, m_i, q, offs_m, K, V, base, stride_t, stride_d, unmasked_end, end,
                                    T, qk_scale, True, CAUSAL, DOT_PRECISION, BLOCK_N, HEAD_DIM)
    acc = acc / l_i[:, None]                                                              # F6
    row_ok = offs_m < T
    tl.store(LSE + off_bh * T + offs_m, m_i + tl.math.log2(l_i), mask=row_ok)            # F6
    tl.store(O + base + offs_m[:, None] * stride_t + offs_d[None, :] * stride_d,
             acc.to(O.dtype.element_ty), mask=row_ok[:, None])


@triton.jit
def _attn_bwd_delta(
    O, DO, DELTA,                     # *T (B, H, T, D) ×2; *fp32 (B·H, T)
    stride_b, stride_h, stride_t, stride_d, H, T,
    BLOCK_M: tl.constexpr, HEAD_DIM: tl.constexpr,
):
    start_m = tl.program_id(0)
    off_bh = tl.program_id(1)
    base = (off_bh // H) * stride_b + (off_bh % H) * stride_h
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    ptrs = base + offs_m[:, None] * stride_t + offs_d[None, :] * stride_d
    mask = offs_m[:, None] < T
    o = tl.load(O + ptrs, mask=mask, other=0.0).to(tl.float32)
    do = tl.load(DO + ptrs, mask=mask, other=0.0).to(tl.float32)
    tl.store(DELTA + off_bh * T + offs_m, tl.sum(o * do, axis=1), mask=offs_m < T)       # Δ = rowsum(dO ∘ O)


@triton.jit
def _attn_bwd_dkdv(
    Q, K, V, DO, DK, DV, LSE, DELTA,  # *T (B, H, T, D) ×6; *fp32 (B·H, T) ×2
    sm_scale, qk_scale,
    stride_b, stride_h, stride_t, stride_d, H, T,
    CAUSAL: tl.constexpr, DOT_PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr,
):
    start_n = tl.program_id(0) * BLOCK_N
    off_bh = tl.program_id(1)
    base = (off_bh // H) * stride_b + (off_bh % H) * stride_h
    offs_n = start_n + tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    kv_ptrs = base + offs_n[:, None] * stride_t + offs_d[None, :] * stride_d
    k = tl.load(K + kv_ptrs, mask=offs_n[:, None] < T, other=0.0)                         # (BLOCK_N, D)
    v = tl.load(V + kv_ptrs, mask=offs_n[:, None] < T, other=0.0)
    dk = tl.zeros((BLOCK_N, HEAD_DIM), tl.float32)
    dv = tl.zeros((BLOCK_N, HEAD_DIM), tl.float32)
    lo = (start_n // BLOCK_M) * BLOCK_M if CAUSAL else 0   # causal: earlier queries never see these keys
    for start_m in range(lo, T, BLOCK_M):
        offs_m = start_m + tl.arange(0, BLOCK_M)
        row_ok = offs_m < T
        q_ptrs = base + offs_m[:, None] * stride_t + offs_d[None, :] * stride_d
        q = tl.load(Q + q_ptrs, mask=row_ok[:, None], other=0.0)                           # (BLOCK_M, D)
        do = tl.load(DO + q_ptrs, mask=row_ok[:, None], other=0.0)
        lse = tl.load(LSE + off_bh * T + offs_m, mask=row_ok, other=0.0)
        delta = tl.load(DELTA + off_bh * T + offs_m, mask=row_ok, other=0.0)
        s = tl.dot(q, tl.trans(k), input_precision=DOT_PRECISION) * qk_scale              # (BLOCK_M, BLOCK_N)
        keep = row_ok[:, None] & (offs_n[None, :] < T)
        if CAUSAL:
            keep = keep & (offs_m[:, None] >= offs_n[None, :])
        p = tl.where(keep, tl.math.exp2(s - lse[:, None]), 0.0)                           # B1
        dv += tl.dot(tl.trans(p.to(do.dtype)), do, input_precision=DOT_PRECISION)         # B2
        dp = tl.dot(do, tl.trans(v), input_precision=DOT_PRECISION)                       # B3
        ds = p * (dp - delta[:, None])                                                    # B4
        dk += tl.dot(tl.trans(ds.to(q.dtype)), q, input_precision=DOT_PRECISION)          # B5 (scaled below)
    tl.store(DK + kv_ptrs, (dk * sm_scale).to(DK.dtype.element_ty), mask=offs_n[:, None] < T)
    tl.store(DV + kv_ptrs, dv.to(DV.dtype.element_ty), mask=offs_n[:, None] < T)


@triton.jit
def _attn_bwd_dq(
    Q, K, V, DO, DQ, LSE, DELTA,      # *T (B, H, T, D) ×5; *fp32 (B·H, T) ×2
    sm_scale, qk_scale,
    stride_b, stride_h, stride_t, stride_d, H, T,
    CAUSAL: tl.constexpr, DOT_PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr,
):
    start_m = tl.program_id(0) * BLOCK_M
    off_bh = tl.program_id(1)
    base = (off_bh // H) * stride_b + (off_bh % H) * stride_h
    offs_m = start_m + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    row_ok = offs_m < T
    q_ptrs = base + offs_m[:, None] * stride_t + offs_d[None, :] * stride_d
    q = tl.load(Q + q_ptrs, mask=row_ok[:, None], other=0.0)
    do = tl.load(DO + q_ptrs, mask=row_ok[:, None], other=0.0)
    lse = tl.load(LSE + off_bh * T + offs_m, mask=row_ok, other=0.0)
    delta = tl.load(DELTA + off_bh * T + offs_m, mask=row_ok, other=0.0)
    dq = tl.zeros((BLOCK_M, HEAD_DIM), tl.float32)
    hi = tl.minimum(start_m + BLOCK_M, T) if CAUSAL else T
    for start_n in range(0, hi, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        kv_ptrs = base + offs_n[:, None] * stride_t + offs_d[None, :] * stride_d
        k = tl.load(K + kv_ptrs, mask=offs_n[:, None] < T, other=0.0)
        v = tl.load(V + kv_ptrs, mask=offs_n[:, None] < T, other=0.0)
        s = tl.dot(q, tl.trans(k), input_precision=DOT_PRECISION) * qk_scale
        keep = row_ok[:, None] & (offs_n[None, :] < T)
        if CAUSAL:
            keep = keep & (offs_m[:, None] >= offs_n[None, :])
        p = tl.where(keep, tl.math.exp2(s - lse[:, None]), 0.0)                           # B1
        dp = tl.dot(do, tl.trans(v), input_precision=DOT_PRECISION)                       # B3
        ds = p * (dp - delta[:, None])                                                    # B4
        dq += tl.dot(ds.to(k.dtype), k, input_precision=DOT_PRECISION)                    # B5 (scaled below)
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
        B, H, T, D = q.shape
        o = torch.empty_like(q)
        lse = torch.empty((B * H, T), device=q.device, dtype=torch.float32)
        bm, bn, warps, stages = _blocks(D)
        grid = (triton.cdiv(T, bm), B * H)
        _attn_fwd[grid](q, k, v, o, lse, sm_scale * LOG2E, *q.stride(), H, T, CAUSAL=causal,
                        DOT_PRECISION=dot_precision(q.dtype), BLOCK_M=bm, BLOCK_N=bn, HEAD_DIM=D,
                        num_warps=warps, num_stages=stages)
        ctx.save_for_backward(q, k, v, o, lse)
        ctx.causal, ctx.sm_scale = causal, sm_scale
        return o

    @staticmethod
    def backward(ctx, do):
        q, k, v, o, lse = ctx.saved_tensors
        do = do.contiguous()
        B, H, T, D = q.shape
        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        delta = torch.empty_like(lse)
        bm, bn, warps, stages = _blocks(D, backward=True)
        _attn_bwd_delta[(triton.cdiv(T, bm), B * H)](o, do, delta, *q.stride(), H, T, BLOCK_M=bm, HEAD_DIM=D)
        common = dict(CAUSAL=ctx.causal, DOT_PRECISION=dot_precision(q.dtype), BLOCK_M=bm, BLOCK_N=bn,
                      HEAD_DIM=D, num_warps=warps, num_stages=stages)
        scale, qk_scale = ctx.sm_scale, ctx.sm_scale * LOG2E
        _attn_bwd_dkdv[(triton.cdiv(T, bn), B * H)](q, k, v, do, dk, dv, lse, delta, scale, qk_scale,
                                                    *q.stride(), H, T, **common)
        _attn_bwd_dq[(triton.cdiv(T, bm), B * H)](q, k, v, do, dq, lse, delta, scale, qk_scale,
                                                  *q.stride(), H, T, **common)
        return dq, dk, dv, None, None


def flash_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
                    sm_scale: float | None = None) -> torch.Tensor:
    """softmax(q kᵀ · scale [+ causal mask]) v for (B, H, T, D) tensors; differentiable.

    ``sm_scale`` defaults to 1/√D. Inputs are made contiguous if they are not.
    """
    check_tensor("q", q, ndim=4, dtypes=SUPPORTED_DTYPES)
    for name, t in (("k", k), ("v", v)):
        check_tensor(name, t, ndim=4, dtypes=(q.dtype,))
        if t.shape != q.shape:
            raise ValueError(f"{name} has shape {tuple(t.shape)}; expected q's shape {tuple(q.shape)} "
                             "(B, H, T, D): self-attention with equal lengths and head counts")
    if q.shape[-1] not in HEAD_DIMS:
        raise ValueError(f"head dimension D={q.shape[-1]} is not supported; use one of {HEAD_DIMS}")
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_device(name, t, INTERPRETED)
    if q.shape[2] == 0 or q.shape[0] * q.shape[1] == 0:
        return torch.empty_like(q)
    scale = 1.0 / math.sqrt(q.shape[-1]) if sm_scale is None else float(sm_scale)
    return _FlashAttention.apply(q.contiguous(), k.contiguous(), v.contiguous(), bool(causal), scale)


def attention_reference(q, k, v, causal=False, sm_scale=None):
    """Naive attention (materialises the T×T matrix) in fp32, cast to q's dtype: :func:`book.nn.attention.attention`."""
    return attention(q, k, v, causal=causal, scale=sm_scale, compute_dtype=torch.float32)[0]
