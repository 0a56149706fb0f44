"""Quantisation: weight-only INT8/INT4 formats, GPTQ, AWQ and ggml's block formats.

Modules, in the order p3-iii teaches them:

* :mod:`~book.quant.weight_only`: absmax and zero-point quantisers at any bit
  width, per row or per group; the INT8 and packed INT4 storage formats, their
  reference matmuls, and ``round_trip(w, fmt)`` for every format the book knows;
* :mod:`~book.quant.gptq`: GPTQ (Hessian, damping, Cholesky, error feedback, lazy batches);
* :mod:`~book.quant.awq`: activation-aware scaling with a grid search that includes s = 1;
* :mod:`~book.quant.ggml`: Q8_0 and Q4_0, byte-identical to llama.cpp's reference quantiser.

:mod:`book.kernels.quant_matmul` runs the INT8 and INT4 formats on the GPU (and
in Triton's interpreter). Every quantiser refuses, with a ValueError naming the
argument, a group size that does not divide the width, a non-finite weight and
an unknown format.
"""
