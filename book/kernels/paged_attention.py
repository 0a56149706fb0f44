"""Paged-attention decode: one new query per sequence against a KV cache stored in blocks.

The cache is a pool of fixed-size blocks, ``k_cache``/``v_cache`` of shape
(num_blocks, H_kv, BLOCK_SIZE, D); sequence b owns the blocks listed in row b
of ``block_tables`` (logical block i → physical block id), and holds
``context_lens[b]`` tokens. Each program handles one (sequence, query head):
it walks the sequence's blocks through the table, scores its query against
each block of keys and folds the block into an online softmax, so no
contiguous copy of the cache is ever made; the loop's steps are F1–F6 of
:mod:`book.kernels.flash_attention` with one query row. Query heads share key/value heads
in groups (grouped-query attention). Decode is bound by reading K and V.
Taught in p3-i-b-paged; Part VI's serving engine uses it.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from book.kernels import INTERPRETED
from book.kernels.inputs import FLOAT_DTYPES, check_device, check_tensor
from book.kernels.launch import LOG2E

SUPPORTED_DTYPES = FLOAT_DTYPES


@triton.jit
def paged_attention_kernel(
    q_ptr,                      # *T (B, H, D): one query per sequence and head
    k_ptr, v_ptr,               # *T (num_blocks, H_kv, BLOCK_SIZE, D)
    table_ptr,                  # *int32 (B, max_blocks): physical block ids
    lens_ptr,                   # *int32 (B,): tokens in each sequence
    out_ptr,                    # *T (B, H, D)
    scale,                      # softmax scale × log2(e)
    stride_qb, stride_qh,
    stride_kb, stride_kh, stride_kt,   # v_cache has the same strides
    stride_tb,
    GROUP: tl.constexpr,        # query heads per key/value head
    BLOCK_SIZE: tl.constexpr,   # tokens per cache block
    HEAD_DIM: tl.constexpr,
):
    b = tl.program_id(0)
    h = tl.program_id(1)
    kv_h = h // GROUP
    offs_d = tl.arange(0, HEAD_DIM)
    offs_t = tl.arange(0, BLOCK_SIZE)
    q = tl.load(q_ptr + b * stride_qb + h * stride_qh + offs_d).to(tl.float32)       # (D,)
    n_tokens = tl.load(lens_ptr + b)
    # One-element vectors rather than Python floats: loop-carried values must keep one type.
    m_i = tl.full((1,), float("-inf"), tl.float32)
    l_i = tl.zeros((1,), tl.float32)
    acc = tl.zeros((HEAD_DIM,), tl.float32)
    for i in range(0, tl.cdiv(n_tokens, BLOCK_SIZE)):
        block = tl.load(table_ptr + b * stride_tb + i)
        valid = i * BLOCK_SIZE + offs_t < n_tokens                                     # last block is partial
        kv = block * stride_kb + kv_h * stride_kh + offs_t[:, None] * stride_kt + offs_d[None, :]
        k = tl.load(k_ptr + kv, mask=valid[:, None], other=0.0).to(tl.float32)         # (BLOCK_SIZE, D)
        s = tl.sum(k * q[None, :], axis=1) * scale                                     # F1 (BLOCK_SIZE,)
        s = tl.where(valid, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, axis=0))                                     # F2
        p = tl.math.exp2(s - m_new)                                                    # F3
        alpha = tl.math.exp2(m_i - m_new)                                              # F3: ≤ 1
        v = tl.load(v_ptr + kv, mask=valid[:, None], other=0.0).to(tl.float32)
        acc = acc * alpha + tl.sum(p[:, None] * v, axis=0)                             # F5
        l_i = l_i * alpha + tl.sum(p, axis=0)                                          # F4
        m_i = m_new
    tl.store(out_ptr + b * stride_qb + h * stride_qh + offs_d, (acc / l_i).to(out_ptr.dtype.element_ty))   # F6


def num_warps(head_dim: int) -> int:
    """Warps per (sequence, head) program: 8 for D = 128, whose (BLOCK_SIZE, D) tiles hold twice the values."""
    return 4 if head_dim <= 64 else 8


def paged_attention(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
                    block_tables: torch.Tensor, context_lens: torch.Tensor,
                    sm_scale: float | None = None) -> torch.Tensor:
    """Attention of q (B, H, D) over each sequence's cached keys/values; returns (B, H, D)."""
    check_tensor("q", q, ndim=3, dtypes=SUPPORTED_DTYPES, contiguous=True)
    check_tensor("k_cache", k_cache, ndim=4, dtypes=(q.dtype,), contiguous=True)
    check_tensor("v_cache", v_cache, ndim=4, dtypes=(q.dtype,), contiguous=True)
    check_tensor("block_tables", block_tables, ndim=2, dtypes=(torch.int32,), contiguous=True)
    check_tensor("context_lens", context_lens, ndim=1, dtypes=(torch.int32,), contiguous=True)
    B, H, D = q.shape
    num_blocks, h_kv, block_size, d_k = k_cache.shape
    if v_cache.shape != k_cache.shape:
        raise ValueError(f"v_cache has shape {tuple(v_cache.shape)}; expected k_cache's {tuple(k_cache.shape)}")
    if d_k != D:
        raise ValueError(f"k_cache head dimension {d_k} differs from q's {D}")
    if H % h_kv:
        raise ValueError(f"q has {H} heads, not a multiple of the cache's {h_kv} key/value heads")
    if D & (D - 1) or block_size & (block_size - 1):
        raise ValueError(f"head dimension ({D}) and block size ({block_size}) must be powers of two")
    if block_tables.shape[0] != B or context_lens.shape[0] != B:
        raise ValueError(f"block_tables {tuple(block_tables.shape)} and context_lens {tuple(context_lens.shape)} "
                         f"need one row per sequence (B={B})")
    for name, t in (("q", q), ("k_cache", k_cache), ("v_cache", v_cache), ("block_tables", block_tables),
                    ("context_lens", context_lens)):
        check_device(name, t, INTERPRETED)
    lens = context_lens.cpu()
    if B and (lens.min() < 1 or lens.max() > block_tables.shape[1] * block_size):
        raise ValueError(f"context_lens must be in [1, {block_tables.shape[1] * block_size}] "
                         f"(max_blocks × block_size), got {lens.min().item()}..{lens.max().item()}")
    out = torch.empty_like(q)
    if B == 0:
        return out
    scale = (1.0 / math.sqrt(D) if sm_scale is None else sm_scale) * LOG2E
    paged_attention_kernel[(B, H)](q, k_cache, v_cache, block_tables, context_lens, out, scale,
                                   q.stride(0), q.stride(1), k_cache.stride(0), k_cache.stride(1),
                                   k_cache.stride(2), block_tables.stride(0),
                                   GROUP=H // h_kv, BLOCK_SIZE=block_size, HEAD_DIM=D,
                                   num_warps=num_warps(D))
    return out


def paged_attention_reference(q, k_cache, v_cache, block_tables, context_lens, sm_scale=None):
    """Gather each sequence's blocks into contiguous K/V and run plain attention (fp32)."""
    B, H, D = q.shape
    h_kv, block_size = k_cache.shape[1], k_cache.shape[2]
    scale = 1.0 / math.sqrt(D) if sm_scale is None else sm_scale
    out = torch.empty_like(q)
    for b in range(B):
        n = int(context_lens[b])
        blocks = block_tables[b, : math.ceil(n / block_size)].long()
        k = k_cache[blocks].permute(1, 0, 2, 3).reshape(h_kv, -1, D)[:, :n].float()   # (H_kv, n, D)
        v = v_cache[blocks].permute(1, 0, 2, 3).reshape(h_kv, -1, D)[:, :n].float()
        k, v = k.repeat_interleave(H // h_kv, 0), v.repeat_interleave(H // h_kv, 0)
        w = torch.softmax((k @ q[b].float()[:, :, None]).squeeze(-1) * scale, dim=-1)  # (H, n)
        out[b] = (w[:, None, :] @ v).squeeze(1).to(q.dtype)
    return out
