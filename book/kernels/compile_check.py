"""Compile every kernel of :mod:`book.kernels` for a GPU, without a GPU, and report what it needs.

``TRITON_INTERPRET=0 python -m book.kernels.compile_check [--arch 90] [--dtype bf16] [--json FILE]``
lowers each kernel through Triton's whole pipeline (Triton IR → GPU IR → LLVM
IR → PTX → cubin, with NVIDIA's ``ptxas``) for one architecture (90:
H100/H200, 80: A100, 75: T4), with exactly the launches that
``python -m book.kernels.bench`` makes: its problem sizes, the block sizes,
warps and pipeline stages the wrappers choose on a GPU (every autotuning
candidate of the matmul), and the argument specialisations Triton's launcher
would apply (16-byte-aligned pointers, sizes divisible by 16, unit strides as
constants). For each launch it prints the registers per thread and the bytes
spilled to local memory (both from ``ptxas -v``) and the shared memory per
program (Triton's own figure, the one its launcher checks).

On sm_90 it fails on any spill and on shared memory beyond the per-block
limit of :data:`SMEM_LIMIT`: 227 KiB (232,448 bytes) on Hopper, the opt-in
maximum a kernel may request (the SM's 228 KiB less 1 KiB the hardware
reserves per block), which is the number Triton's launcher compares with
before raising ``OutOfResources``. The benchmark sizes are Hopper's, so on
other architectures the same figures are reported, not gated. The
interpreter checks what a kernel computes; this checks that the compiler
accepts it and that a Hopper launch cannot run out of resources. Speed needs a
GPU. Taught in p3-i-a-execution.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

#: Shared memory a program may request (opt-in maximum per block), by compute capability × 10.
SMEM_LIMIT = {75: 64 * 1024, 80: 163 * 1024, 86: 99 * 1024, 89: 99 * 1024, 90: 227 * 1024}
#: The architecture whose limits are enforced: the benchmark's sizes and tiles are chosen for it.
GATED_ARCH = 90
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


@dataclass(frozen=True)
class Ptr:
    """A pointer argument: a tensor of this dtype (16-byte aligned, as every PyTorch allocation is)."""

    dtype: torch.dtype


@dataclass(frozen=True)
class Launch:
    """One kernel launch as a wrapper makes it at benchmark size: every argument, warps and stages."""

    module: str
    kernel: str
    label: str
    args: dict
    num_warps: int = 4
    num_stages: int = 3


@dataclass(frozen=True)
class Resources:
    label: str
    registers: int          # per thread
    spill_bytes: int        # spill stores + spill loads, per thread
    shared_bytes: int       # per program (Triton's dynamic shared memory)
    cubin_bytes: int


def launches(dtype: torch.dtype) -> list[Launch]:
    """Every kernel at the sizes of :data:`book.kernels.bench.GPU`, configured as its wrapper does on a GPU."""
    import triton

    from book.kernels import flash_attention, matmul, norm, paged_attention, quant_matmul
    from book.kernels.bench import GPU
    from book.kernels.launch import dot_precision, row_warps

    half, f32 = Ptr(dtype), Ptr(torch.float32)
    out = [Launch("vector_add", "add_kernel", "vector add (fp32, n = 2^28)",
                  dict(x_ptr=f32, y_ptr=f32, out_ptr=f32, n_elements=1 << 28, BLOCK_SIZE=1024))]
    for cols in GPU.softmax_cols:
        block = triton.next_power_of_2(cols)
        out.append(Launch("softmax", "softmax_kernel", f"softmax fp32, N = {cols}",
                          dict(out_ptr=f32, in_ptr=f32, in_row_stride=cols, out_row_stride=cols, n_cols=cols,
                               BLOCK_SIZE=block), num_warps=row_warps(block)))
    n = GPU.matmul
    for cfg in matmul._configs():
        k = cfg.kwargs
        out.append(Launch("matmul", "matmul_kernel",
                          f"matmul {n}³, {k['BLOCK_M']}×{k['BLOCK_N']}×{k['BLOCK_K']}, "
                          f"{cfg.num_warps} warps, {cfg.num_stages} stages",
                          dict(a_ptr=half, b_ptr=half, c_ptr=half, M=n, N=n, K=n, stride_am=n, stride_ak=1,
                               stride_bk=n, stride_bn=1, stride_cm=n, stride_cn=1,
                               DOT_PRECISION=dot_precision(dtype), **k),
                          num_warps=cfg.num_warps, num_stages=cfg.num_stages))
    rows = GPU.norm_rows
    for cols in GPU.norm_cols:
        block = triton.next_power_of_2(cols)
        for rms in (False, True):
            name = "RMSNorm" if rms else "LayerNorm"
            out += [
                Launch("norm", "_norm_fwd", f"{name} forward, N = {cols}",
                       dict(x_ptr=half, y_ptr=half, w_ptr=half, b_ptr=half, mean_ptr=f32, rstd_ptr=f32,
                            stride_x=cols, stride_y=cols, N=cols, eps=1e-5, IS_RMS=rms, BLOCK_N=block),
                       num_warps=row_warps(block)),
                Launch("norm", "_norm_bwd_dx", f"{name} backward dx, N = {cols}",
                       dict(x_ptr=half, dy_ptr=half, dx_ptr=half, w_ptr=half, mean_ptr=f32, rstd_ptr=f32,
                            stride=cols, N=cols, IS_RMS=rms, BLOCK_N=block), num_warps=row_warps(block)),
                Launch("norm", "_norm_bwd_dwdb", f"{name} backward dw, N = {cols}",
                       dict(x_ptr=half, dy_ptr=half, mean_ptr=f32, rstd_ptr=f32, dw_ptr=f32, db_ptr=f32,
                            stride=cols, M=rows, N=cols, IS_RMS=rms, BLOCK_M=norm.DW_BLOCK_M,
                            BLOCK_N=min(norm.DW_BLOCK_N, block))),
            ]
    H, T, D = GPU.attn_heads, max(GPU.attn_lens), GPU.attn_dim      # the batch size changes only the grid
    strides = dict(stride_b=H * T * D, stride_h=T * D, stride_t=D, stride_d=1, H=H, T=T)
    bm, bn, warps, stages = flash_attention._blocks(D)
    bm_b, bn_b, warps_b, stages_b = flash_attention._blocks(D, backward=True)
    for causal in (False, True):
        tiles = dict(CAUSAL=causal, DOT_PRECISION=dot_precision(dtype), HEAD_DIM=D)
        out += [
            Launch("flash_attention", "_attn_fwd", f"flash forward, causal={causal}, {bm}×{bn} tiles",
                   dict(Q=half, K=half, V=half, O=half, LSE=f32, qk_scale=0.1, **strides, **tiles,
                        BLOCK_M=bm, BLOCK_N=bn), num_warps=warps, num_stages=stages),
            Launch("flash_attention", "_attn_bwd_dkdv", f"flash backward dK dV, causal={causal}",
                   dict(Q=half, K=half, V=half, DO=half, DK=half, DV=half, LSE=f32, DELTA=f32, sm_scale=0.1,
                        qk_scale=0.1, **strides, **tiles, BLOCK_M=bm_b, BLOCK_N=bn_b),
                   num_warps=warps_b, num_stages=stages_b),
            Launch("flash_attention", "_attn_bwd_dq", f"flash backward dQ, causal={causal}",
                   dict(Q=half, K=half, V=half, DO=half, DQ=half, LSE=f32, DELTA=f32, sm_scale=0.1, qk_scale=0.1,
                        **strides, **tiles, BLOCK_M=bm_b, BLOCK_N=bn_b), num_warps=warps_b, num_stages=stages_b),
        ]
    out.append(Launch("flash_attention", "_attn_bwd_delta", "flash backward Δ",
                      dict(O=half, DO=half, DELTA=f32, **strides, BLOCK_M=bm_b, HEAD_DIM=D)))
    n, g = GPU.gemv, GPU.group
    i8, u8 = Ptr(torch.int8), Ptr(torch.uint8)
    out += [
        Launch("quant_matmul", "int8_gemv_kernel", f"int8 GEMV {n}×{n}",
               dict(x_ptr=half, w_ptr=i8, s_ptr=f32, y_ptr=half, N=n, K=n, stride_xm=n, stride_wn=n, stride_ym=n,
                    **quant_matmul.tiles("int8_gemv"))),
        Launch("quant_matmul", "int8_matmul_kernel", f"int8 matmul {n}³",
               dict(x_ptr=half, w_ptr=i8, s_ptr=f32, y_ptr=half, M=n, N=n, K=n, stride_xm=n, stride_xk=1,
                    stride_wn=n, stride_wk=1, stride_ym=n, stride_yn=1, **quant_matmul.tiles("int8_matmul"))),
        Launch("quant_matmul", "int4_gemv_kernel", f"int4 GEMV {n}×{n}, group {g}",
               dict(x_ptr=half, p_ptr=u8, s_ptr=f32, y_ptr=half, N=n, K=n, stride_xm=n, stride_pn=n // 2,
                    stride_sn=n // g, stride_ym=n, GROUP=g, **quant_matmul.tiles("int4_gemv", g))),
        Launch("quant_matmul", "int4_matmul_kernel", f"int4 matmul {n}³, group {g}",
               dict(x_ptr=half, p_ptr=u8, s_ptr=f32, y_ptr=half, M=n, N=n, K=n, stride_xm=n, stride_xk=1,
                    stride_pn=n // 2, stride_sn=n // g, stride_ym=n, stride_yn=1, GROUP=g,
                    **quant_matmul.tiles("int4_matmul", g))),
    ]
    b, h, hkv, blk, d = GPU.paged_batch, GPU.paged_heads, GPU.paged_kv_heads, GPU.paged_block, GPU.attn_dim
    out.append(Launch("paged_attention", "paged_attention_kernel", f"paged decode, {b} sequences × {GPU.paged_ctx}",
                      dict(q_ptr=half, k_ptr=half, v_ptr=half, table_ptr=Ptr(torch.int32), lens_ptr=Ptr(torch.int32),
                           out_ptr=half, scale=0.1, stride_qb=h * d, stride_qh=d, stride_kb=hkv * blk * d,
                           stride_kh=blk * d, stride_kt=d, stride_tb=GPU.paged_ctx // blk, GROUP=h // hkv,
                           BLOCK_SIZE=blk, HEAD_DIM=d), num_warps=paged_attention.num_warps(d)))
    return out


def _source(fn, args: dict):
    """The ASTSource Triton's launcher would build for these argument values (its specialisation rules)."""
    from triton._C.libtriton import native_specialize_impl
    from triton.backends.compiler import BaseBackend
    from triton.compiler import ASTSource
    from triton.runtime.jit import MockTensor

    signature, constexprs, attrs = {}, {}, {}
    for i, p in enumerate(fn.params):
        value = args[p.name]
        if p.is_constexpr:
            signature[p.name], constexprs[p.name] = "constexpr", value
            continue
        value = MockTensor(value.dtype) if isinstance(value, Ptr) else value
        kind, attr = native_specialize_impl(BaseBackend, value, False, not p.do_not_specialize, True)
        signature[p.name] = kind
        if kind == "constexpr":          # an integer equal to 1 becomes a compile-time constant
            constexprs[p.name] = attr
        elif isinstance(attr, str):      # "D": divisible by 16
            attrs[(i,)] = BaseBackend.parse_attr(attr)
    return ASTSource(fn=fn, signature=signature, constexprs=constexprs, attrs=attrs)


PTXAS_SPILLS = re.compile(r"(\d+) bytes spill stores, (\d+) bytes spill loads")
PTXAS_REGS = re.compile(r"Used (\d+) registers")


def compile_launch(launch: Launch, arch: int) -> Resources:
    """Compile one launch to a cubin and read its resources from ptxas's report and Triton's metadata."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.runtime.jit import JITFunction

    fn = getattr(importlib.import_module(f"book.kernels.{launch.module}"), launch.kernel)
    while not isinstance(fn, JITFunction):
        fn = fn.fn  # unwrap triton.autotune
    log = io.StringIO()
    with contextlib.redirect_stdout(log):      # ptxas -v's report, which Triton prints when asked to
        compiled = triton.compile(_source(fn, launch.args), target=GPUTarget("cuda", arch, 32),
                                  options={"num_warps": launch.num_warps, "num_stages": launch.num_stages,
                                           "enable_fp_fusion": True})     # Triton's default, stated
    report = log.getvalue()
    spills, regs = PTXAS_SPILLS.search(report), PTXAS_REGS.search(report)
    if spills is None or regs is None:
        raise RuntimeError(f"no ptxas resource report for {launch.label}: {report[-500:]!r}")
    return Resources(launch.label, int(regs.group(1)), int(spills.group(1)) + int(spills.group(2)),
                     compiled.metadata.shared, len(compiled.asm["cubin"]))


def problems(res: Resources, arch: int) -> list[str]:
    """What makes this launch fail the check on ``arch`` (nothing off the gated architecture)."""
    if arch != GATED_ARCH:
        return []
    found = []
    if res.spill_bytes:
        found.append(f"spills {res.spill_bytes} bytes per thread to local memory")
    if res.shared_bytes > SMEM_LIMIT[arch]:
        found.append(f"needs {res.shared_bytes:,} bytes of shared memory, over sm_{arch}'s "
                     f"{SMEM_LIMIT[arch]:,} per block")
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m book.kernels.compile_check", description=__doc__.splitlines()[0])
    ap.add_argument("--arch", type=int, default=90, choices=sorted(SMEM_LIMIT),
                    help="CUDA compute capability × 10 (90 H100/H200, 80 A100, 75 T4)")
    ap.add_argument("--dtype", default="bf16", choices=sorted(DTYPES), help="dtype of the half-precision kernels")
    ap.add_argument("--only", default=None, help="comma-separated kernel modules (e.g. softmax,matmul)")
    ap.add_argument("--json", type=Path, default=None, help="also write the resources of every launch here")
    args = ap.parse_args(argv)
    from book.kernels import INTERPRETED

    if INTERPRETED:  # the kernels were decorated as interpreted functions: nothing to compile
        raise SystemExit("compile_check needs compiled kernels: run it as "
                         "`TRITON_INTERPRET=0 python -m book.kernels.compile_check`")
    from triton import knobs

    knobs.nvidia.dump_ptxas_log = True           # ptxas -v prints registers and spills
    knobs.compilation.always_compile = True      # a cached cubin would come without that report
    limit = SMEM_LIMIT[args.arch]
    gate = "gated" if args.arch == GATED_ARCH else f"reported only (limits are gated on sm_{GATED_ARCH})"
    print(f"sm_{args.arch}, {args.dtype}: shared-memory limit {limit // 1024} KiB per block; {gate}")
    print(f"{'':6}{'kernel launch':<58}{'regs':>5}{'spill B':>8}{'smem KiB':>9}")
    only = set(args.only.split(",")) if args.only else None
    failures, table = 0, []
    for launch in launches(DTYPES[args.dtype]):
        if only is not None and launch.module not in only:
            continue
        try:
            res = compile_launch(launch, args.arch)
        except Exception as exc:  # noqa: BLE001 - report every kernel, then fail
            failures += 1
            print(f"FAIL  {launch.label}: {type(exc).__name__}: {str(exc)[-500:]}")
            continue
        table.append(asdict(res))
        found = problems(res, args.arch)
        failures += bool(found)
        print(f"{'FAIL' if found else 'ok':<6}{launch.label:<58}{res.registers:>5}{res.spill_bytes:>8}"
              f"{res.shared_bytes / 1024:>9.1f}" + (f"  <- {'; '.join(found)}" if found else ""))
    if args.json is not None:
        args.json.write_text(json.dumps({"arch": args.arch, "dtype": args.dtype, "smem_limit": limit,
                                         "launches": table}, indent=1) + "\n")
    print(f"{len(table)} launches compiled, {failures} failing")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
