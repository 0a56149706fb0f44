"""What every kernel wrapper shares: input checks that name the argument and what was
expected, the dtypes the kernels accept, and launch constants."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from book.kernels import INTERPRETED

#: Floating-point dtypes the kernels accept: Triton's interpreter has no bf16.
FLOAT_DTYPES = (torch.float32, torch.float16) if INTERPRETED else (torch.float32, torch.float16, torch.bfloat16)

#: log2(e): kernels compute exp(x) as exp2(x · log2 e), which maps to one hardware instruction.
LOG2E = 1.4426950408889634


def row_warps(block: int) -> int:
    """Warps for a kernel that holds one row of ``block`` elements: more for longer rows."""
    return 4 if block <= 2048 else (8 if block <= 8192 else 16)


def check_tensor(name: str, x: object, *, ndim: int | None = None,
                 dtypes: Iterable[torch.dtype] | None = None, contiguous: bool = False) -> torch.Tensor:
    """Raise TypeError/ValueError naming ``name`` unless ``x`` is a suitable tensor."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
    if dtypes is not None:
        dtypes = tuple(dtypes)
        if x.dtype not in dtypes:
            names = ", ".join(str(d).replace("torch.", "") for d in dtypes)
            raise TypeError(f"{name} has dtype {str(x.dtype).replace('torch.', '')}; supported: {names}")
    if contiguous and not x.is_contiguous():
        raise ValueError(f"{name} must be contiguous (strides {x.stride()} for shape {tuple(x.shape)}); "
                         "call .contiguous() first")
    return x


def check_device(name: str, x: torch.Tensor, interpreted: bool) -> None:
    """Compiled kernels need CUDA tensors; the interpreter needs CPU tensors."""
    want = "cpu" if interpreted else "cuda"
    if x.device.type != want:
        mode = "Triton's interpreter (no CUDA GPU here)" if interpreted else "compiled Triton on the GPU"
        raise ValueError(f"{name} is on {x.device}, but kernels run in {mode}: move it with .to('{want}')")
