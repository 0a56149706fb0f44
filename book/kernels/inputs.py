"""What the kernel wrappers accept, and the checks that say what is wrong before a launch.

Inside a kernel a wrong shape, dtype or device is not an exception but wrong
numbers (or a crash), so every wrapper in :mod:`book.kernels` validates its
inputs with these functions first: each error names the argument, what it got
and what was expected. Taught in p3-i-a-vector-add.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from book.kernels import INTERPRETED

#: Floating-point dtypes the kernels accept: Triton's interpreter has no bf16.
FLOAT_DTYPES: tuple[torch.dtype, ...] = ((torch.float32, torch.float16) if INTERPRETED
                                         else (torch.float32, torch.float16, torch.bfloat16))


def check_tensor(name: str, x: object, *, ndim: int | None = None,
                 dtypes: Iterable[torch.dtype] | None = None, contiguous: bool = False) -> torch.Tensor:
    """Raise TypeError/ValueError naming ``name`` unless ``x`` is a suitable tensor.

    >>> check_tensor("x", torch.ones(2, 3), ndim=3)
    Traceback (most recent call last):
    ...
    ValueError: x must have 3 dimensions, got shape (2, 3)
    """
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


def check_device(name: str, x: torch.Tensor, interpreted: bool = INTERPRETED) -> None:
    """Compiled kernels need CUDA tensors; the interpreter needs CPU tensors."""
    want = "cpu" if interpreted else "cuda"
    if x.device.type != want:
        mode = "Triton's interpreter (no CUDA GPU here)" if interpreted else "compiled Triton on the GPU"
        raise ValueError(f"{name} is on {x.device}, but kernels run in {mode}: move it with .to('{want}')")
