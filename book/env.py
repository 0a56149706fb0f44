"""Seeding, device choice, Colab detection, progress bars and the Triton switch.

Every chapter's setup cell calls :func:`seed` once; the GPU chapters import
:mod:`book.kernels`, which calls :func:`configure_triton` so that on a machine
without a CUDA GPU every Triton kernel runs in Triton's interpreter on the CPU.
Taught in p1-ch1 (setup) and p3-i-a-triton (the interpreter).
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def seed(value: int = 0) -> None:
    """Seed Python, NumPy and PyTorch (CPU and every GPU) with ``value``.

    >>> seed(0); import torch; a = torch.rand(1); seed(0); bool((a == torch.rand(1)).all())
    True
    """
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"seed must be a non-negative int, got {value!r}")
    import numpy as np
    import torch

    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)  # also seeds every CUDA device


def device() -> torch.device:  # noqa: F821 (torch imported lazily)
    """The best available device: ``cuda`` if a CUDA GPU is present, else ``cpu``."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def on_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


def has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def configure_triton() -> bool:
    """Choose between compiled Triton (CUDA GPU) and Triton's interpreter (CPU).

    Sets ``TRITON_INTERPRET=1`` when no CUDA GPU is present, unless the reader
    already set the variable. Triton reads it when a kernel is decorated with
    ``@triton.jit``, so this must run before any kernel module is imported; the
    :mod:`book.kernels` package does that for you. Returns True when kernels
    will run in the interpreter.
    """
    if "TRITON_INTERPRET" not in os.environ and not has_cuda():
        os.environ["TRITON_INTERPRET"] = "1"
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def progress(iterable: Iterable[T], total: int | None = None, desc: str | None = None,
             **kwargs) -> Iterable[T]:
    """A text progress bar for long loops (``tqdm``), written to stderr.

    Text rather than a widget so that it works the same in Jupyter, Colab,
    a terminal and the test runner; the HTML book hides stderr.
    """
    from tqdm.std import tqdm

    kwargs.setdefault("mininterval", 0.5)
    kwargs.setdefault("file", sys.stderr)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, total=total, desc=desc, **kwargs)
