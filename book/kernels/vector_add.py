"""Vector addition: the smallest complete Triton kernel. Taught in p3-i-a-vector-add.

Each program instance adds one block of ``BLOCK_SIZE`` elements; a mask
switches off the lanes past the end when the length is not a multiple of the
block. It moves 12 bytes per fp32 element (two reads, one write) and does one
FLOP, so it runs at memory bandwidth.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from book.kernels import INTERPRETED
from book.kernels.inputs import FLOAT_DTYPES, check_device, check_tensor

SUPPORTED_DTYPES = FLOAT_DTYPES


@triton.jit
def add_kernel(
    x_ptr,                  # *T: first input, contiguous
    y_ptr,                  # *T: second input, contiguous
    out_ptr,                # *T: output, contiguous
    n_elements,             # total number of elements
    BLOCK_SIZE: tl.constexpr,  # elements per program (a power of two)
):
    pid = tl.program_id(axis=0)
    offsets = pid * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offsets < n_elements           # the last block may run past the end
    x = tl.load(x_ptr + offsets, mask=mask)
    y = tl.load(y_ptr + offsets, mask=mask)
    tl.store(out_ptr + offsets, x + y, mask=mask)


def add(x: torch.Tensor, y: torch.Tensor, block_size: int = 1024) -> torch.Tensor:
    """Elementwise ``x + y`` for contiguous tensors of equal shape and dtype."""
    check_tensor("x", x, dtypes=SUPPORTED_DTYPES, contiguous=True)
    check_tensor("y", y, dtypes=(x.dtype,), contiguous=True)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    check_device("x", x, INTERPRETED)
    check_device("y", y, INTERPRETED)
    out = torch.empty_like(x)
    n = x.numel()
    if n:
        add_kernel[(triton.cdiv(n, block_size),)](x, y, out, n, BLOCK_SIZE=block_size)
    return out

