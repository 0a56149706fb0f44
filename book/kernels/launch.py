"""Launch choices the kernel wrappers share: warps per row, ``tl.dot`` precision, the exp2 scale.

* :func:`row_warps`: kernels that hold one row of a matrix in a program
  (softmax, LayerNorm/RMSNorm) spread longer rows over more warps, so that each
  thread keeps a bounded number of values in registers (p3-i-a-softmax).
* :func:`dot_precision`: the ``input_precision`` the wrappers pass to
  ``tl.dot`` as a compile-time constant. fp32 inputs get ``"ieee"`` (exact fp32
  products; a GPU's tensor cores would otherwise round them to TF32), fp16 and
  bf16 inputs ``"tf32"``, Triton's default, which leaves them as they are
  (p3-i-a-matmul).
* :data:`LOG2E`: kernels compute eˣ as 2^(x·log₂e), the exponential the
  hardware has; wrappers fold log₂e into the scale they pass (p3-i-b-forward).
"""

from __future__ import annotations

import torch

#: log₂(e): exp(x) = exp2(x · LOG2E), and log(x) = log2(x) / LOG2E.
LOG2E = 1.4426950408889634


def row_warps(block: int) -> int:
    """Warps for a program that holds one row of ``block`` elements: 4 up to 2048, 8 up to 8192, else 16.

    >>> [row_warps(b) for b in (1024, 4096, 32768)]
    [4, 8, 16]
    """
    return 4 if block <= 2048 else (8 if block <= 8192 else 16)


def dot_precision(dtype: torch.dtype) -> str:
    """``tl.dot``'s ``input_precision`` for inputs of ``dtype``: "ieee" for fp32, "tf32" (the default) otherwise.

    >>> dot_precision(torch.float32), dot_precision(torch.float16)
    ('ieee', 'tf32')
    """
    return "ieee" if dtype == torch.float32 else "tf32"
