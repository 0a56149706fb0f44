"""Tiled matrix multiplication with grouped ordering and (on a GPU) autotuning.

Each program computes one ``BLOCK_M × BLOCK_N`` tile of C = A B by walking
along K in steps of ``BLOCK_K`` and accumulating ``tl.dot`` products in fp32:

    (1)  C[m, n] = Σ_{k0 = 0, BK, 2BK, …} A[m, k0:k0+BK] · B[k0:k0+BK, n]     (the chapter's ia-tiled)

Programs are numbered so that ``GROUP_M`` consecutive ones share the same
columns of B: while they run together, those columns stay in the L2 cache.
An M×K by K×N product does 2MNK FLOPs on (MK + KN + MN) elements, so for
large square matrices it is compute-bound. Taught in p3-i-a-matmul.

In the interpreter (no GPU) one small configuration is used; on a GPU
``triton.autotune`` picks the fastest of several per (M, N, K).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from book.kernels import INTERPRETED
from book.kernels.inputs import FLOAT_DTYPES, check_device, check_tensor
from book.kernels.launch import dot_precision

SUPPORTED_DTYPES = FLOAT_DTYPES


def _configs() -> list:
    if INTERPRETED:
        return [triton.Config({"BLOCK_M": 32, "BLOCK_N": 32, "BLOCK_K": 32, "GROUP_M": 4}, num_warps=4)]
    shapes = [(128, 256, 64, 8, 3), (256, 128, 64, 8, 3), (128, 128, 64, 4, 4), (128, 128, 32, 4, 4),
              (64, 256, 32, 4, 4), (128, 64, 32, 4, 4), (64, 128, 32, 4, 4), (64, 64, 32, 4, 5)]
    return [triton.Config({"BLOCK_M": m, "BLOCK_N": n, "BLOCK_K": k, "GROUP_M": 8}, num_warps=w, num_stages=s)
            for m, n, k, w, s in shapes]


@triton.autotune(configs=_configs(), key=["M", "N", "K", "DOT_PRECISION"])
@triton.jit
def matmul_kernel(
    a_ptr, b_ptr, c_ptr,                  # *T: A (M, K), B (K, N), C (M, N)
    M, N, K,                              # problem size
    stride_am, stride_ak,                 # elements between rows / columns of A
    stride_bk, stride_bn,
    stride_cm, stride_cn,
    DOT_PRECISION: tl.constexpr,          # tl.dot's input_precision: "ieee" for fp32 (no TF32 rounding), else "tf32"
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    GROUP_M: tl.constexpr,                # row-tiles that share B's columns in L2
):
    # Grouped ordering: map the linear program id to a (tile row, tile column).
    pid = tl.program_id(0)
    num_pid_m = tl.cdiv(M, BLOCK_M)
    num_pid_n = tl.cdiv(N, BLOCK_N)
    num_pid_in_group = GROUP_M * num_pid_n
    group_id = pid // num_pid_in_group
    first_pid_m = group_id * GROUP_M
    group_size_m = min(num_pid_m - first_pid_m, GROUP_M)
    pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m)
    pid_n = (pid % num_pid_in_group) // group_size_m

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + offs_m[:, None] * stride_am + offs_k[None, :] * stride_ak   # (BLOCK_M, BLOCK_K)
    b_ptrs = b_ptr + offs_k[:, None] * stride_bk + offs_n[None, :] * stride_bn   # (BLOCK_K, BLOCK_N)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, tl.cdiv(K, BLOCK_K)):   # the sum over k0 of Eq. (1)
        k_left = K - k0 * BLOCK_K            # masks: rows/cols past M, N and the K tail read 0
        a = tl.load(a_ptrs, mask=(offs_m[:, None] < M) & (offs_k[None, :] < k_left), other=0.0)
        b = tl.load(b_ptrs, mask=(offs_k[:, None] < k_left) & (offs_n[None, :] < N), other=0.0)
        acc = tl.dot(a, b, acc, input_precision=DOT_PRECISION)     # acc += A_tile @ B_tile, in fp32
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk
    c = acc.to(c_ptr.dtype.element_ty)
    c_ptrs = c_ptr + offs_m[:, None] * stride_cm + offs_n[None, :] * stride_cn
    tl.store(c_ptrs, c, mask=(offs_m[:, None] < M) & (offs_n[None, :] < N))


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """C = A @ B for 2-D tensors of one dtype (any strides); fp32 accumulation."""
    check_tensor("a", a, ndim=2, dtypes=SUPPORTED_DTYPES)
    check_tensor("b", b, ndim=2, dtypes=(a.dtype,))
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"inner dimensions differ: a is {tuple(a.shape)}, b is {tuple(b.shape)}")
    check_device("a", a, INTERPRETED)
    check_device("b", b, INTERPRETED)
    M, K = a.shape
    N = b.shape[1]
    c = torch.empty((M, N), device=a.device, dtype=a.dtype)
    if M == 0 or N == 0:
        return c
    if K == 0:
        return c.zero_()
    grid = lambda meta: (triton.cdiv(M, meta["BLOCK_M"]) * triton.cdiv(N, meta["BLOCK_N"]),)
    matmul_kernel[grid](a, b, c, M, N, K, a.stride(0), a.stride(1), b.stride(0), b.stride(1),
                        c.stride(0), c.stride(1), DOT_PRECISION=dot_precision(a.dtype))
    return c


def matmul_reference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """fp32-accumulated reference, cast to the input dtype."""
    return (a.float() @ b.float()).to(a.dtype)
