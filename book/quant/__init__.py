"""Quantisation: weight-only INT8/INT4 formats, their quantisers and reference matmuls.

The quantization chapter of Part III builds them step by step (absmax,
zero-point, group-wise INT4, GPTQ, block formats);
:mod:`book.kernels.quant_matmul` runs the formats of :mod:`~book.quant.weight_only`
on the GPU (and in Triton's interpreter).
"""
