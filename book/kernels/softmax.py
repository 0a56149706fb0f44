"""Fused row-wise softmax in Triton: one program per row, one read and one write.

The unfused PyTorch expression ``exp(x - max) / sum`` reads and writes the
matrix several times; this kernel loads a row into on-chip memory once,
computes the max, the exponentials and their sum there, and writes the result
once. For an (M, N) fp32 matrix it moves ``8·M·N`` bytes, so its speed is
bounded by memory bandwidth. Taught in p3-i-a-softmax.

>>> import torch
>>> x = torch.randn(3, 5)
>>> torch.allclose(softmax(x if INTERPRETED else x.cuda()).cpu(), softmax_reference(x), atol=1e-6)
True
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from book.kernels import INTERPRETED
from book.kernels.inputs import FLOAT_DTYPES, check_device, check_tensor
from book.kernels.launch import row_warps

SUPPORTED_DTYPES = FLOAT_DTYPES
# One row must fit in a block of registers/shared memory.
MAX_COLS = 65536


@triton.jit
def softmax_kernel(
    out_ptr,            # *T: output matrix, same shape and strides as the input rows
    in_ptr,             # *T: input matrix (M, N)
    in_row_stride,      # elements between consecutive input rows
    out_row_stride,     # elements between consecutive output rows
    n_cols,             # N, the row length (may be smaller than BLOCK_SIZE)
    BLOCK_SIZE: tl.constexpr,  # power of two >= N: the tile that holds one row
):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK_SIZE)
    mask = cols < n_cols  # the tail of the block past N is padding
    # Padding reads -inf so it neither wins the max nor adds to the sum (exp(-inf) = 0).
    x = tl.load(in_ptr + row * in_row_stride + cols, mask=mask, other=-float("inf")).to(tl.float32)
    x = x - tl.max(x, axis=0)  # softmax is shift-invariant; this keeps exp() finite
    numerator = tl.exp(x)
    y = numerator / tl.sum(numerator, axis=0)
    tl.store(out_ptr + row * out_row_stride + cols, y.to(out_ptr.dtype.element_ty), mask=mask)


def softmax(x: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dimension of a 2-D tensor, computed by :func:`softmax_kernel`.

    Rows may be strided (a column slice of a wider matrix), but each row must
    be contiguous. Raises TypeError/ValueError that names the problem.
    """
    check_tensor("x", x, ndim=2, dtypes=SUPPORTED_DTYPES)
    check_device("x", x, INTERPRETED)
    n_rows, n_cols = x.shape
    if n_cols == 0 or n_rows == 0:
        return torch.empty_like(x)
    if x.stride(1) != 1:
        raise ValueError(f"x must have contiguous rows (stride(1) == 1), got strides {x.stride()}")
    if n_cols > MAX_COLS:
        raise ValueError(f"x has {n_cols} columns; this kernel holds a row on chip and supports at most {MAX_COLS}")
    out = torch.empty((n_rows, n_cols), dtype=x.dtype, device=x.device)
    block = triton.next_power_of_2(n_cols)
    softmax_kernel[(n_rows,)](out, x, x.stride(0), out.stride(0), n_cols, BLOCK_SIZE=block, num_warps=row_warps(block))
    return out


def softmax_reference(x: torch.Tensor) -> torch.Tensor:
    """PyTorch's softmax over the last dimension, computed in fp32 and cast back."""
    return torch.softmax(x.float(), dim=-1).to(x.dtype)
