"""Compile every kernel of :mod:`book.kernels` for a GPU architecture, without a GPU.

``TRITON_INTERPRET=0 python -m book.kernels.compile_check [--arch 90] [--dtype bf16]`` lowers each
kernel through Triton's whole pipeline (Triton IR → GPU IR → LLVM IR → PTX →
cubin) for the chosen architecture (90: H100/H200, 80: A100, 75: T4) at the
block sizes the wrappers use there. The interpreter checks what a kernel
computes; this checks that the compiler accepts it (types of loop-carried
values, layouts, ``tl.dot`` shapes). It does not run anything, so it cannot
find out-of-resource launches or measure speed: that needs a GPU and
``python -m book.bench``. Taught in Part III §I-a.
"""

from __future__ import annotations

import argparse
import importlib
import sys


def kernels(dtype: str) -> list[tuple[str, str, str, dict, dict]]:
    """(module, kernel, label, signature, constexprs) for every kernel at GPU block sizes."""
    T, F, I = f"*{dtype}", "*fp32", "i32"
    C = "constexpr"
    shared = dict(stride_b=I, stride_h=I, stride_n=I, stride_d=I, H=I, N=I)
    attn_cx = dict(CAUSAL=C, IEEE=C, BLOCK_M=C, BLOCK_N=C, HEAD_DIM=C)
    rows = [
        ("vector_add", "add_kernel", "vector add", dict(x_ptr=T, y_ptr=T, out_ptr=T, n_elements=I, BLOCK_SIZE=C),
         dict(BLOCK_SIZE=1024)),
        ("softmax", "softmax_kernel", "softmax fp32", dict(out_ptr=F, in_ptr=F, in_row_stride=I, out_row_stride=I,
                                                           n_cols=I, BLOCK_SIZE=C), dict(BLOCK_SIZE=4096)),
        ("matmul", "matmul_kernel", "matmul", dict(a_ptr=T, b_ptr=T, c_ptr=T, M=I, N=I, K=I, stride_am=I, stride_ak=I,
                                                   stride_bk=I, stride_bn=I, stride_cm=I, stride_cn=I, IEEE=C,
                                                   BLOCK_M=C, BLOCK_N=C, BLOCK_K=C, GROUP_M=C),
         dict(IEEE=False, BLOCK_M=128, BLOCK_N=128, BLOCK_K=64, GROUP_M=8)),
        ("matmul", "matmul_kernel", "matmul fp32 (ieee)", dict(a_ptr=F, b_ptr=F, c_ptr=F, M=I, N=I, K=I, stride_am=I,
                                                               stride_ak=I, stride_bk=I, stride_bn=I, stride_cm=I,
                                                               stride_cn=I, IEEE=C, BLOCK_M=C, BLOCK_N=C, BLOCK_K=C,
                                                               GROUP_M=C),
         dict(IEEE=True, BLOCK_M=64, BLOCK_N=64, BLOCK_K=32, GROUP_M=8)),
    ]
    for rms in (False, True):
        name = "rmsnorm" if rms else "layernorm"
        rows += [
            ("norm", "_norm_fwd", f"{name} forward", dict(x_ptr=T, y_ptr=T, w_ptr=T, b_ptr=T, mean_ptr=F, rstd_ptr=F,
                                                         stride_x=I, stride_y=I, N=I, eps="fp32", IS_RMS=C, BLOCK_N=C),
             dict(IS_RMS=rms, BLOCK_N=4096)),
            ("norm", "_norm_bwd_dx", f"{name} backward dx", dict(x_ptr=T, dy_ptr=T, dx_ptr=T, w_ptr=T, mean_ptr=F,
                                                                rstd_ptr=F, stride=I, N=I, IS_RMS=C, BLOCK_N=C),
             dict(IS_RMS=rms, BLOCK_N=4096)),
            ("norm", "_norm_bwd_dwdb", f"{name} backward dw", dict(x_ptr=T, dy_ptr=T, mean_ptr=F, rstd_ptr=F, dw_ptr=F,
                                                                  db_ptr=F, stride=I, M=I, N=I, IS_RMS=C, BLOCK_M=C,
                                                                  BLOCK_N=C),
             dict(IS_RMS=rms, BLOCK_M=32, BLOCK_N=64)),
        ]
    for causal in (False, True):
        rows += [
            ("flash_attention", "_attn_fwd", f"flash forward causal={causal}",
             dict(Q=T, K=T, V=T, O=T, LSE=F, qk_scale="fp32", **shared, **attn_cx),
             dict(CAUSAL=causal, IEEE=False, BLOCK_M=128, BLOCK_N=64, HEAD_DIM=128)),
            ("flash_attention", "_attn_bwd_dkdv", f"flash backward dK,dV causal={causal}",
             dict(Q=T, K=T, V=T, DO=T, DK=T, DV=T, LSE=F, DELTA=F, sm_scale="fp32", qk_scale="fp32", **shared, **attn_cx),
             dict(CAUSAL=causal, IEEE=False, BLOCK_M=64, BLOCK_N=64, HEAD_DIM=128)),
            ("flash_attention", "_attn_bwd_dq", f"flash backward dQ causal={causal}",
             dict(Q=T, K=T, V=T, DO=T, DQ=T, LSE=F, DELTA=F, sm_scale="fp32", qk_scale="fp32", **shared, **attn_cx),
             dict(CAUSAL=causal, IEEE=False, BLOCK_M=64, BLOCK_N=64, HEAD_DIM=128)),
        ]
    rows += [
        ("flash_attention", "_attn_bwd_delta", "flash backward delta",
         dict(O=T, DO=T, DELTA=F, **shared, BLOCK_M=C, HEAD_DIM=C), dict(BLOCK_M=64, HEAD_DIM=128)),
        ("quant_matmul", "int8_matmul_kernel", "int8 matmul",
         dict(x_ptr=T, w_ptr="*i8", s_ptr=F, y_ptr=T, M=I, N=I, K=I, stride_xm=I, stride_xk=I, stride_wn=I,
              stride_wk=I, stride_ym=I, stride_yn=I, BLOCK_M=C, BLOCK_N=C, BLOCK_K=C),
         dict(BLOCK_M=64, BLOCK_N=128, BLOCK_K=64)),
        ("quant_matmul", "int8_gemv_kernel", "int8 gemv",
         dict(x_ptr=T, w_ptr="*i8", s_ptr=F, y_ptr=T, N=I, K=I, stride_xm=I, stride_wn=I, stride_ym=I,
              BLOCK_N=C, BLOCK_K=C), dict(BLOCK_N=32, BLOCK_K=128)),
        ("quant_matmul", "int4_matmul_kernel", "int4 matmul",
         dict(x_ptr=T, p_ptr="*u8", s_ptr=F, y_ptr=T, M=I, N=I, K=I, stride_xm=I, stride_xk=I, stride_pn=I,
              stride_sn=I, stride_ym=I, stride_yn=I, GROUP=C, BLOCK_M=C, BLOCK_N=C, BLOCK_K=C),
         dict(GROUP=128, BLOCK_M=64, BLOCK_N=128, BLOCK_K=64)),
        ("quant_matmul", "int4_gemv_kernel", "int4 gemv",
         dict(x_ptr=T, p_ptr="*u8", s_ptr=F, y_ptr=T, N=I, K=I, stride_xm=I, stride_pn=I, stride_sn=I, stride_ym=I,
              GROUP=C, BLOCK_N=C, BLOCK_K=C), dict(GROUP=128, BLOCK_N=64, BLOCK_K=128)),
        ("paged_attention", "paged_attention_kernel", "paged attention",
         dict(q_ptr=T, k_ptr=T, v_ptr=T, table_ptr="*i32", lens_ptr="*i32", out_ptr=T, scale="fp32", stride_qb=I,
              stride_qh=I, stride_kb=I, stride_kh=I, stride_kt=I, stride_tb=I, GROUP=C, BLOCK_SIZE=C, HEAD_DIM=C),
         dict(GROUP=4, BLOCK_SIZE=16, HEAD_DIM=128)),
    ]
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m book.kernels.compile_check", description=__doc__.splitlines()[0])
    ap.add_argument("--arch", type=int, default=90, help="CUDA compute capability × 10 (90 H100/H200, 80 A100, 75 T4)")
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "fp16", "fp32"])
    args = ap.parse_args(argv)
    from book.kernels import INTERPRETED

    if INTERPRETED:  # the kernels were decorated as interpreted functions: nothing to compile
        raise SystemExit("compile_check needs compiled kernels: run it as "
                         "`TRITON_INTERPRET=0 python -m book.kernels.compile_check`")
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from triton.runtime.jit import JITFunction

    target = GPUTarget("cuda", args.arch, 32)
    failures = 0
    for module, name, label, signature, constexprs in kernels(args.dtype):
        fn = getattr(importlib.import_module(f"book.kernels.{module}"), name)
        while not isinstance(fn, JITFunction):
            fn = fn.fn  # unwrap triton.autotune
        try:
            compiled = triton.compile(ASTSource(fn=fn, signature=signature, constexprs=constexprs), target=target,
                                      options={"num_warps": 8 if "128" in str(constexprs) else 4})
            print(f"ok    sm_{args.arch} {args.dtype:>4}  {label}  ({len(compiled.asm['cubin'])} bytes of cubin)")
        except Exception as exc:  # noqa: BLE001 - report every kernel, then fail
            failures += 1
            print(f"FAIL  sm_{args.arch} {args.dtype:>4}  {label}: {type(exc).__name__}: {str(exc)[-500:]}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
