"""Fused LayerNorm and RMSNorm, forward and backward, in Triton.

Forward: one program per row loads the row once, computes its statistics and
writes the normalised, scaled row (and, for the backward pass, the row's mean
and 1/σ). Backward, with x̂ = (x − μ)·r and g = dy ⊙ w:

* dx = r · (g − mean(g) − x̂ · mean(g ⊙ x̂))   (LayerNorm; RMSNorm drops the mean(g) term)
* dw = Σ_rows dy ⊙ x̂,  db = Σ_rows dy

``_norm_bwd_dx`` computes dx one row per program; ``_norm_bwd_dwdb`` sums the
parameter gradients one block of columns per program, looping over rows, so
no atomics are needed and the result is deterministic. Taught in p3-i-a-layernorm.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from book.kernels import INTERPRETED
from book.kernels.inputs import FLOAT_DTYPES, check_device, check_tensor
from book.kernels.launch import row_warps

SUPPORTED_DTYPES = FLOAT_DTYPES
MAX_COLS = 65536
#: The parameter-gradient kernel's tile: DW_BLOCK_M rows × up to DW_BLOCK_N columns per step.
DW_BLOCK_M, DW_BLOCK_N = 32, 64


@triton.jit
def _norm_fwd(
    x_ptr, y_ptr, w_ptr, b_ptr,      # *T: input (M, N), output (M, N), weight (N,), bias (N,) or dummy
    mean_ptr, rstd_ptr,              # *fp32 (M,): per-row statistics saved for the backward pass
    stride_x, stride_y,              # elements between rows
    N, eps,
    IS_RMS: tl.constexpr,            # RMSNorm: no centring and no bias
    BLOCK_N: tl.constexpr,           # power of two >= N
):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK_N)
    mask = cols < N
    x = tl.load(x_ptr + row * stride_x + cols, mask=mask, other=0.0).to(tl.float32)
    if IS_RMS:
        mean = 0.0
        xc = x
    else:
        mean = tl.sum(x, axis=0) / N
        xc = tl.where(mask, x - mean, 0.0)          # padding must not count in the variance
    var = tl.sum(xc * xc, axis=0) / N
    rstd = 1.0 / tl.sqrt(var + eps)
    w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    y = xc * rstd * w
    if not IS_RMS:
        y += tl.load(b_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    tl.store(y_ptr + row * stride_y + cols, y.to(y_ptr.dtype.element_ty), mask=mask)
    tl.store(mean_ptr + row, mean)
    tl.store(rstd_ptr + row, rstd)


@triton.jit
def _norm_bwd_dx(
    x_ptr, dy_ptr, dx_ptr, w_ptr,    # *T: input, upstream gradient, input gradient (M, N); weight (N,)
    mean_ptr, rstd_ptr,              # *fp32 (M,) from the forward pass
    stride, N,                       # all three matrices share the row stride
    IS_RMS: tl.constexpr, BLOCK_N: tl.constexpr,
):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK_N)
    mask = cols < N
    x = tl.load(x_ptr + row * stride + cols, mask=mask, other=0.0).to(tl.float32)
    dy = tl.load(dy_ptr + row * stride + cols, mask=mask, other=0.0).to(tl.float32)
    w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    mean = tl.load(mean_ptr + row)
    rstd = tl.load(rstd_ptr + row)
    xhat = tl.where(mask, (x - mean) * rstd, 0.0)
    g = dy * w
    c1 = tl.sum(xhat * g, axis=0) / N
    if IS_RMS:
        dx = (g - xhat * c1) * rstd
    else:
        c2 = tl.sum(g, axis=0) / N
        dx = (g - c2 - xhat * c1) * rstd
    tl.store(dx_ptr + row * stride + cols, dx.to(dx_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _norm_bwd_dwdb(
    x_ptr, dy_ptr,                   # *T: input and upstream gradient (M, N)
    mean_ptr, rstd_ptr,              # *fp32 (M,)
    dw_ptr, db_ptr,                  # *fp32 (N,): parameter gradients
    stride, M, N,
    IS_RMS: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,   # a tile of rows × a block of columns
):
    pid = tl.program_id(0)
    cols = pid * BLOCK_N + tl.arange(0, BLOCK_N)
    col_mask = cols < N
    dw = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    db = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for m0 in range(0, M, BLOCK_M):
        rows = m0 + tl.arange(0, BLOCK_M)
        row_mask = rows < M
        mask = row_mask[:, None] & col_mask[None, :]
        offs = rows[:, None] * stride + cols[None, :]
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        dy = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        mean = tl.load(mean_ptr + rows, mask=row_mask, other=0.0)
        rstd = tl.load(rstd_ptr + rows, mask=row_mask, other=0.0)
        dw += dy * (x - mean[:, None]) * rstd[:, None]
        db += dy
    tl.store(dw_ptr + cols, tl.sum(dw, axis=0), mask=col_mask)
    if not IS_RMS:
        tl.store(db_ptr + cols, tl.sum(db, axis=0), mask=col_mask)


class _Norm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps, is_rms):
        shape = x.shape
        x2 = x.reshape(-1, shape[-1]).contiguous()
        M, N = x2.shape
        y = torch.empty_like(x2)
        mean = torch.empty(M, device=x.device, dtype=torch.float32)
        rstd = torch.empty(M, device=x.device, dtype=torch.float32)
        block = triton.next_power_of_2(N)
        if M:
            _norm_fwd[(M,)](x2, y, weight, bias if bias is not None else weight, mean, rstd,
                            x2.stride(0), y.stride(0), N, eps, IS_RMS=is_rms, BLOCK_N=block,
                            num_warps=row_warps(block))
        ctx.save_for_backward(x2, weight, mean, rstd)
        ctx.is_rms, ctx.has_bias, ctx.shape = is_rms, bias is not None, shape
        return y.reshape(shape)

    @staticmethod
    def backward(ctx, dy):
        x2, weight, mean, rstd = ctx.saved_tensors
        M, N = x2.shape
        dy2 = dy.reshape(-1, N).contiguous()
        dx = torch.empty_like(x2)
        dw = torch.zeros(N, device=x2.device, dtype=torch.float32)
        db = torch.zeros(N, device=x2.device, dtype=torch.float32)
        block = triton.next_power_of_2(N)
        if M:
            _norm_bwd_dx[(M,)](x2, dy2, dx, weight, mean, rstd, x2.stride(0), N,
                               IS_RMS=ctx.is_rms, BLOCK_N=block, num_warps=row_warps(block))
            block_n = min(DW_BLOCK_N, block)
            _norm_bwd_dwdb[(triton.cdiv(N, block_n),)](x2, dy2, mean, rstd, dw, db, x2.stride(0), M, N,
                                                       IS_RMS=ctx.is_rms, BLOCK_M=DW_BLOCK_M, BLOCK_N=block_n)
        db_out = db.to(weight.dtype) if ctx.has_bias else None
        return dx.reshape(ctx.shape), dw.to(weight.dtype), db_out, None, None


def _validate(x, weight, bias):
    check_tensor("x", x, dtypes=SUPPORTED_DTYPES)
    if x.ndim < 1 or x.shape[-1] == 0:
        raise ValueError(f"x must have a non-empty last dimension, got shape {tuple(x.shape)}")
    n = x.shape[-1]
    if n > MAX_COLS:
        raise ValueError(f"x's last dimension is {n}; the kernel holds a row on chip and supports at most {MAX_COLS}")
    check_tensor("weight", weight, ndim=1, dtypes=SUPPORTED_DTYPES)
    if weight.shape[0] != n:
        raise ValueError(f"weight has shape {tuple(weight.shape)}; expected ({n},) to match x's last dimension")
    check_device("x", x, INTERPRETED)
    check_device("weight", weight, INTERPRETED)
    if bias is not None:
        check_tensor("bias", bias, ndim=1, dtypes=SUPPORTED_DTYPES)
        if bias.shape != weight.shape:
            raise ValueError(f"bias has shape {tuple(bias.shape)}; expected ({n},)")
        check_device("bias", bias, INTERPRETED)


def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
               eps: float = 1e-5) -> torch.Tensor:
    """LayerNorm over the last dimension (differentiable: x, weight and bias get gradients)."""
    _validate(x, weight, bias)
    return _Norm.apply(x, weight, bias, eps, False)


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """RMSNorm over the last dimension (differentiable: x and weight get gradients)."""
    _validate(x, weight, None)
    return _Norm.apply(x, weight, None, eps, True)


def layer_norm_reference(x, weight, bias=None, eps=1e-5):
    return torch.nn.functional.layer_norm(x.float(), (x.shape[-1],), weight.float(),
                                          None if bias is None else bias.float(), eps).to(x.dtype)


def rms_norm_reference(x, weight, eps=1e-6):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * weight.float()).to(x.dtype)
