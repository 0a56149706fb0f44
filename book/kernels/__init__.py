"""Triton kernels, one module per family: kernel, validating wrapper, PyTorch reference.

Importing this package first calls :func:`book.env.configure_triton`, so on a
machine without a CUDA GPU every kernel runs in Triton's interpreter
(``TRITON_INTERPRET=1``) on the CPU, and on a GPU it is compiled. Taught in
p3-i-a-triton.

Modules: ``vector_add``, ``softmax``, ``matmul``, ``norm`` (p3-i-a),
``flash_attention`` and ``paged_attention`` (p3-i-b), ``quant_matmul``; what the
wrappers share: ``inputs`` (accepted dtypes, input checks) and ``launch``
(warps per row, ``tl.dot`` precision, log₂e). Tools: ``compile_check`` (compile
every kernel for a GPU architecture and report its registers, spills and shared
memory, without a GPU) and ``bench`` (check and time every kernel on a GPU).
"""

from book.env import configure_triton

INTERPRETED: bool = configure_triton()
