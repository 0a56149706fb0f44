"""Triton kernels, one module per family: kernel, validating wrapper, PyTorch reference.

Importing this package first calls :func:`book.env.configure_triton`, so on a
machine without a CUDA GPU every kernel runs in Triton's interpreter
(``TRITON_INTERPRET=1``) on the CPU, and on a GPU it is compiled. Taught in
Part III §I-a.
"""

from book.env import configure_triton

INTERPRETED: bool = configure_triton()
