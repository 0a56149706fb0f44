"""Weight-only INT8 and INT4 dequantise-and-multiply kernels: y = x Ŵᵀ.

The weights stay quantised in memory (1 or ½ byte per value) and are expanded
to x's dtype tile by tile in registers, so a decode step, which is bound by
reading the weights, reads 2× (INT8) or ~4× (INT4) fewer bytes than with
fp16/bf16 weights. Two kernel shapes:

* ``*_matmul_kernel``: tiled ``tl.dot`` for many rows of x (prefill);
* ``*_gemv_kernel``: one row of x per program and a block of outputs,
  multiply-and-sum without ``tl.dot`` (decode, M ≤ ``GEMV_MAX_ROWS``).

INT4 tiles load packed bytes (BLOCK_N, BLOCK_K/2), split them into the even
(low nibble) and odd (high nibble) inputs, and multiply them with the even and
odd columns of x: no interleaving is needed. A tile lies inside one
quantisation group, so its scale is applied once per tile. Formats: see
:mod:`book.quant.weight_only`. Built for Part III's quantization chapter and the serving engine of Part VI.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from book.kernels import INTERPRETED
from book.kernels.inputs import FLOAT_DTYPES, check_device, check_tensor

SUPPORTED_DTYPES = FLOAT_DTYPES
GEMV_MAX_ROWS = 8


def tiles(kernel: str, group_size: int = 128) -> dict[str, int]:
    """Block sizes the wrappers launch ``kernel`` with: small in the interpreter, H100/H200-sized on a GPU.

    ``kernel`` is one of "int8_gemv", "int8_matmul", "int4_gemv", "int4_matmul". An INT4 K tile never
    spans two quantisation groups. :mod:`book.kernels.compile_check` compiles exactly these.
    """
    bk4 = min(group_size, 32 if INTERPRETED else 128)
    if INTERPRETED:
        table = {"int8_gemv": dict(BLOCK_N=16, BLOCK_K=64), "int8_matmul": dict(BLOCK_M=32, BLOCK_N=32, BLOCK_K=32),
                 "int4_gemv": dict(BLOCK_N=16, BLOCK_K=bk4), "int4_matmul": dict(BLOCK_M=32, BLOCK_N=32, BLOCK_K=bk4)}
    else:
        table = {"int8_gemv": dict(BLOCK_N=32, BLOCK_K=128),
                 "int8_matmul": dict(BLOCK_M=64, BLOCK_N=128, BLOCK_K=64),
                 "int4_gemv": dict(BLOCK_N=64, BLOCK_K=bk4),
                 "int4_matmul": dict(BLOCK_M=64, BLOCK_N=128, BLOCK_K=min(bk4, 64))}
    return table[kernel]


@triton.jit
def int8_matmul_kernel(
    x_ptr, w_ptr, s_ptr, y_ptr,       # x (M, K) *T; w (N, K) *int8; scales (N,) *fp32; y (M, N) *T
    M, N, K,
    stride_xm, stride_xk, stride_wn, stride_wk, stride_ym, stride_yn,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    pid_m, pid_n = tl.program_id(0), tl.program_id(1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    acc = tl.zeros((BLOCK_M, BLOCK_N), tl.float32)
    for k0 in range(0, K, BLOCK_K):
        offs_k = k0 + tl.arange(0, BLOCK_K)
        x = tl.load(x_ptr + offs_m[:, None] * stride_xm + offs_k[None, :] * stride_xk,
                    mask=(offs_m[:, None] < M) & (offs_k[None, :] < K), other=0.0)          # (BM, BK)
        w = tl.load(w_ptr + offs_n[None, :] * stride_wn + offs_k[:, None] * stride_wk,
                    mask=(offs_n[None, :] < N) & (offs_k[:, None] < K), other=0)            # (BK, BN) int8
        acc = tl.dot(x, w.to(x.dtype), acc)
    scale = tl.load(s_ptr + offs_n, mask=offs_n < N, other=0.0)                             # per output
    y = acc * scale[None, :]
    tl.store(y_ptr + offs_m[:, None] * stride_ym + offs_n[None, :] * stride_yn, y.to(y_ptr.dtype.element_ty),
             mask=(offs_m[:, None] < M) & (offs_n[None, :] < N))


@triton.jit
def int8_gemv_kernel(
    x_ptr, w_ptr, s_ptr, y_ptr, N, K,
    stride_xm, stride_wn, stride_ym,  # x, w rows are contiguous along K
    BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    m, pid_n = tl.program_id(0), tl.program_id(1)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    acc = tl.zeros((BLOCK_N,), tl.float32)
    for k0 in range(0, K, BLOCK_K):
        offs_k = k0 + tl.arange(0, BLOCK_K)
        x = tl.load(x_ptr + m * stride_xm + offs_k, mask=offs_k < K, other=0.0).to(tl.float32)
        w = tl.load(w_ptr + offs_n[:, None] * stride_wn + offs_k[None, :],
                    mask=(offs_n[:, None] < N) & (offs_k[None, :] < K), other=0).to(tl.float32)
        acc += tl.sum(w * x[None, :], axis=1)
    acc *= tl.load(s_ptr + offs_n, mask=offs_n < N, other=0.0)
    tl.store(y_ptr + m * stride_ym + offs_n, acc.to(y_ptr.dtype.element_ty), mask=offs_n < N)


@triton.jit
def int4_matmul_kernel(
    x_ptr, p_ptr, s_ptr, y_ptr,       # x (M, K) *T; packed (N, K/2) *uint8; scales (N, K/G) *fp32; y (M, N)
    M, N, K,
    stride_xm, stride_xk, stride_pn, stride_sn, stride_ym, stride_yn,
    GROUP: tl.constexpr,              # quantisation group size (a multiple of BLOCK_K)
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    tl.static_assert(GROUP % BLOCK_K == 0, "a K tile must not straddle two quantisation groups")
    pid_m, pid_n = tl.program_id(0), tl.program_id(1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    half = tl.arange(0, BLOCK_K // 2)
    acc = tl.zeros((BLOCK_M, BLOCK_N), tl.float32)
    for k0 in range(0, K, BLOCK_K):
        x_rows = x_ptr + offs_m[:, None] * stride_xm
        row_ok = offs_m[:, None] < M
        x_even = tl.load(x_rows + (k0 + 2 * half)[None, :] * stride_xk, mask=row_ok, other=0.0)      # (BM, BK/2)
        x_odd = tl.load(x_rows + (k0 + 2 * half + 1)[None, :] * stride_xk, mask=row_ok, other=0.0)
        p = tl.load(p_ptr + offs_n[None, :] * stride_pn + (k0 // 2 + half)[:, None],
                    mask=offs_n[None, :] < N, other=0)                                              # (BK/2, BN)
        w_even = ((p & 0xF).to(tl.int8) - 8).to(x_even.dtype)
        w_odd = ((p >> 4).to(tl.int8) - 8).to(x_even.dtype)
        part = tl.dot(x_even, w_even) + tl.dot(x_odd, w_odd)
        scale = tl.load(s_ptr + offs_n * stride_sn + k0 // GROUP, mask=offs_n < N, other=0.0)
        acc += part * scale[None, :]
    tl.store(y_ptr + offs_m[:, None] * stride_ym + offs_n[None, :] * stride_yn, acc.to(y_ptr.dtype.element_ty),
             mask=(offs_m[:, None] < M) & (offs_n[None, :] < N))


@triton.jit
def int4_gemv_kernel(
    x_ptr, p_ptr, s_ptr, y_ptr, N, K,
    stride_xm, stride_pn, stride_sn, stride_ym,
    GROUP: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    tl.static_assert(GROUP % BLOCK_K == 0, "a K tile must not straddle two quantisation groups")
    m, pid_n = tl.program_id(0), tl.program_id(1)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    half = tl.arange(0, BLOCK_K // 2)
    acc = tl.zeros((BLOCK_N,), tl.float32)
    for k0 in range(0, K, BLOCK_K):
        x_even = tl.load(x_ptr + m * stride_xm + k0 + 2 * half).to(tl.float32)
        x_odd = tl.load(x_ptr + m * stride_xm + k0 + 2 * half + 1).to(tl.float32)
        p = tl.load(p_ptr + offs_n[:, None] * stride_pn + (k0 // 2 + half)[None, :],
                    mask=offs_n[:, None] < N, other=0)                                              # (BN, BK/2)
        w_even = ((p & 0xF).to(tl.int8) - 8).to(tl.float32)
        w_odd = ((p >> 4).to(tl.int8) - 8).to(tl.float32)
        part = tl.sum(w_even * x_even[None, :] + w_odd * x_odd[None, :], axis=1)
        acc += part * tl.load(s_ptr + offs_n * stride_sn + k0 // GROUP, mask=offs_n < N, other=0.0)
    tl.store(y_ptr + m * stride_ym + offs_n, acc.to(y_ptr.dtype.element_ty), mask=offs_n < N)


def _check_x(x: torch.Tensor, k: int) -> None:
    check_tensor("x", x, ndim=2, dtypes=SUPPORTED_DTYPES)
    if x.shape[1] != k:
        raise ValueError(f"x has shape {tuple(x.shape)}; expected (M, {k}) to match the weight's K")
    check_device("x", x, INTERPRETED)


def int8_matmul(x: torch.Tensor, q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """y = x (q · scale)ᵀ for x (M, K), q int8 (N, K), scale (N,)."""
    check_tensor("q", q, ndim=2, dtypes=(torch.int8,), contiguous=True)
    check_tensor("scale", scale, ndim=1, dtypes=(torch.float32,), contiguous=True)
    n, k = q.shape
    if scale.shape[0] != n:
        raise ValueError(f"scale has shape {tuple(scale.shape)}; expected ({n},), one per output row of q")
    _check_x(x, k)
    check_device("q", q, INTERPRETED)
    check_device("scale", scale, INTERPRETED)
    m = x.shape[0]
    y = torch.empty((m, n), device=x.device, dtype=x.dtype)
    if m == 0 or n == 0:
        return y
    if m <= GEMV_MAX_ROWS:
        x = x.contiguous()
        t = tiles("int8_gemv")
        int8_gemv_kernel[(m, triton.cdiv(n, t["BLOCK_N"]))](x, q, scale, y, n, k, x.stride(0), q.stride(0),
                                                            y.stride(0), **t)
    else:
        t = tiles("int8_matmul")
        int8_matmul_kernel[(triton.cdiv(m, t["BLOCK_M"]), triton.cdiv(n, t["BLOCK_N"]))](
            x, q, scale, y, m, n, k, x.stride(0), x.stride(1), q.stride(0), q.stride(1), y.stride(0), y.stride(1),
            **t)
    return y


def int4_matmul(x: torch.Tensor, packed: torch.Tensor, scales: torch.Tensor, group_size: int = 128) -> torch.Tensor:
    """y = x Ŵᵀ for x (M, K) and the packed INT4 weight (N, K/2) with group scales (N, K/group_size)."""
    check_tensor("packed", packed, ndim=2, dtypes=(torch.uint8,), contiguous=True)
    check_tensor("scales", scales, ndim=2, dtypes=(torch.float32,), contiguous=True)
    n, k = packed.shape[0], 2 * packed.shape[1]
    if group_size < 32 or group_size & (group_size - 1):
        raise ValueError(f"group_size must be a power of two >= 32, got {group_size}")
    if k % group_size:
        raise ValueError(f"K={k} (from packed's shape {tuple(packed.shape)}) must be a multiple of "
                         f"group_size={group_size}")
    if scales.shape != (n, k // group_size):
        raise ValueError(f"scales has shape {tuple(scales.shape)}; expected ({n}, {k // group_size}) "
                         f"for N={n}, K={k}, group_size={group_size}")
    _check_x(x, k)
    check_device("packed", packed, INTERPRETED)
    check_device("scales", scales, INTERPRETED)
    m = x.shape[0]
    y = torch.empty((m, n), device=x.device, dtype=x.dtype)
    if m == 0 or n == 0:
        return y
    if m <= GEMV_MAX_ROWS:
        x = x.contiguous()
        t = tiles("int4_gemv", group_size)
        int4_gemv_kernel[(m, triton.cdiv(n, t["BLOCK_N"]))](x, packed, scales, y, n, k, x.stride(0),
                                                            packed.stride(0), scales.stride(0), y.stride(0),
                                                            GROUP=group_size, **t)
    else:
        t = tiles("int4_matmul", group_size)
        int4_matmul_kernel[(triton.cdiv(m, t["BLOCK_M"]), triton.cdiv(n, t["BLOCK_N"]))](
            x, packed, scales, y, m, n, k, x.stride(0), x.stride(1), packed.stride(0), scales.stride(0),
            y.stride(0), y.stride(1), GROUP=group_size, **t)
    return y
