"""``python -m book.bench``: check every Triton kernel, time it against PyTorch, write JSON.

On a CUDA GPU it (1) checks each kernel against its PyTorch reference at
benchmark size, (2) measures the chip's own ceilings — device-to-device copy
bandwidth and cuBLAS matmul throughput — and (3) times each kernel and its
PyTorch baseline in the same run with ``triton.testing.do_bench`` (median
after warm-up), then (4) writes every figure, the ratios the book targets and
the provenance (GPU, driver, CUDA, torch, triton, date) to a JSON file that
the Part III chapters plot.

Without a GPU, ``--smoke`` runs the same code paths at toy sizes in Triton's
interpreter with wall-clock timing: a test that the script works, not a
measurement (the JSON says so). Taught in Part III §I-a and §I-b.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

DEFAULT_OUT = Path("part3_efficiency") / "gpu_results.json"

# Targets from the book's plan, as ratios measured in the same run.
TARGETS = {
    "softmax_vs_torch": 1.0,            # ≥ at every N in 1k..32k (fp32)
    "softmax_vs_copy": 0.85,            # fraction of copy bandwidth
    "matmul_vs_cublas": 0.9,            # fp16 and bf16, 4096³
    "norm_vs_torch": 1.3,               # LayerNorm / RMSNorm forward, N ≥ 4096
    "flash_fwd_vs_sdpa": 0.8,           # bf16, d=128, N=4096, causal and not
    "flash_bwd_vs_sdpa": 0.5,
    "int4_gemv_vs_bf16": 2.5,           # 8192×8192 decode GEMV
    "int4_gemv_vs_torch_int4": 1.0,     # torch.ops.aten._weight_int4pack_mm
    "paged_vs_copy": 0.6,               # fraction of copy bandwidth on the KV bytes read
}


@dataclass(frozen=True)
class Sizes:
    """Benchmark sizes: ``gpu`` fills an H100/H200-class chip; ``smoke`` runs in seconds in the interpreter."""

    copy_bytes: int
    softmax_elems: int
    softmax_cols: tuple[int, ...]
    matmul: int
    norm_rows: int
    norm_cols: tuple[int, ...]
    attn_batch: int
    attn_heads: int
    attn_lens: tuple[int, ...]
    attn_dim: int
    gemv: int
    group: int
    paged_batch: int
    paged_ctx: int
    paged_heads: int
    paged_kv_heads: int
    paged_block: int


GPU = Sizes(copy_bytes=1 << 30, softmax_elems=1 << 27, softmax_cols=(1024, 2048, 4096, 8192, 16384, 32768),
            matmul=4096, norm_rows=8192, norm_cols=(4096, 8192), attn_batch=4, attn_heads=32,
            attn_lens=(512, 1024, 2048, 4096, 8192), attn_dim=128, gemv=8192, group=128,
            paged_batch=32, paged_ctx=4096, paged_heads=32, paged_kv_heads=8, paged_block=16)
SMOKE = Sizes(copy_bytes=1 << 16, softmax_elems=1 << 12, softmax_cols=(100, 1024), matmul=64, norm_rows=16,
              norm_cols=(256,), attn_batch=1, attn_heads=1, attn_lens=(32, 48), attn_dim=64, gemv=128, group=64,
              paged_batch=2, paged_ctx=40, paged_heads=4, paged_kv_heads=2, paged_block=16)


def _timer(smoke: bool) -> Callable[[Callable[[], object]], float]:
    """Seconds per call: do_bench's median on a GPU, a wall-clock median in the interpreter."""
    if not smoke:
        import triton.testing

        return lambda fn: triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median") * 1e-3

    def wall(fn):
        fn()
        samples = []
        for _ in range(3):
            t = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t)
        return statistics.median(samples)

    return wall


def _check(name: str, got: torch.Tensor, want: torch.Tensor, atol: float, rtol: float, report: dict) -> None:
    err = (got.detach().float() - want.detach().float()).abs()
    ok = bool((err <= atol + rtol * want.float().abs()).all())
    report.setdefault("checks", {})[name] = {"max_abs_err": float(err.max()) if err.numel() else 0.0, "ok": ok}
    if not ok:
        raise AssertionError(f"{name}: kernel differs from its PyTorch reference (max abs err {float(err.max()):.3g})")


def run(smoke: bool = False, only: set[str] | None = None) -> dict:
    """Check and time every kernel; return the report dict (see the module docstring)."""
    from book.kernels import INTERPRETED  # sets the interpreter switch first

    if not smoke and (INTERPRETED or not torch.cuda.is_available()):
        raise SystemExit("book.bench: no CUDA GPU here; use --smoke for an interpreter run of the same code paths")
    from book.kernels.flash_attention import attention_reference, flash_attention
    from book.kernels.matmul import matmul
    from book.kernels.norm import layer_norm, rms_norm, rms_norm_reference
    from book.kernels.paged_attention import paged_attention, paged_attention_reference
    from book.kernels.quant_matmul import int4_matmul, int8_matmul
    from book.kernels.softmax import softmax
    from book.quant.weight_only import int4_matmul_reference, quantize_int4, quantize_int8

    sz = SMOKE if smoke else GPU
    dev = "cpu" if smoke else "cuda"
    half = torch.float16 if smoke else torch.bfloat16   # the interpreter has no bf16
    bench = _timer(smoke)
    torch.manual_seed(0)
    rep: dict = {"provenance": _provenance(smoke), "targets": TARGETS, "results": {}, "ratios": {}}
    res, ratios = rep["results"], rep["ratios"]
    want = (lambda key: only is None or key in only)

    # Ceilings: copy bandwidth and cuBLAS throughput.
    x = torch.empty(sz.copy_bytes // 4, device=dev, dtype=torch.float32).normal_()
    y = torch.empty_like(x)
    t = bench(lambda: y.copy_(x))
    copy_gbs = 2 * x.numel() * 4 / t / 1e9
    res["copy"] = {"bytes": 2 * x.numel() * 4, "seconds": t, "GB/s": copy_gbs}
    del x, y
    n = sz.matmul
    for dt in ([torch.float16] if smoke else [torch.float16, torch.bfloat16]):
        a, b = torch.randn(n, n, device=dev, dtype=dt), torch.randn(n, n, device=dev, dtype=dt)
        t_ref = bench(lambda: a @ b)
        res[f"cublas_{str(dt)[6:]}"] = {"n": n, "seconds": t_ref, "TFLOP/s": 2 * n ** 3 / t_ref / 1e12}
        if want("matmul"):
            _check(f"matmul_{str(dt)[6:]}", matmul(a, b), (a.float() @ b.float()), 1e-1 if not smoke else 5e-2, 2e-2, rep)
            t_k = bench(lambda: matmul(a, b))
            res[f"matmul_{str(dt)[6:]}"] = {"n": n, "seconds": t_k, "TFLOP/s": 2 * n ** 3 / t_k / 1e12}
            ratios[f"matmul_{str(dt)[6:]}_vs_cublas"] = t_ref / t_k
        del a, b

    if want("softmax"):
        rows = []
        for cols in sz.softmax_cols:
            m = max(1, sz.softmax_elems // cols)
            s = torch.randn(m, cols, device=dev)
            _check(f"softmax_{cols}", softmax(s), torch.softmax(s, -1), 1e-6, 1e-5, rep)
            t_k, t_ref = bench(lambda: softmax(s)), bench(lambda: torch.softmax(s, -1))
            gbs = 2 * s.numel() * 4 / t_k / 1e9
            rows.append({"rows": m, "cols": cols, "triton_GB/s": gbs, "torch_GB/s": 2 * s.numel() * 4 / t_ref / 1e9,
                         "vs_torch": t_ref / t_k, "vs_copy": gbs / copy_gbs})
            del s
        res["softmax_fp32"] = rows
        ratios["softmax_vs_torch_min"] = min(r["vs_torch"] for r in rows)
        ratios["softmax_vs_copy_min"] = min(r["vs_copy"] for r in rows)

    if want("norm"):
        rows = []
        for cols in sz.norm_cols:
            xn = torch.randn(sz.norm_rows, cols, device=dev, dtype=half)
            w, bias = torch.randn(cols, device=dev, dtype=half), torch.randn(cols, device=dev, dtype=half)
            _check(f"layer_norm_{cols}", layer_norm(xn, w, bias),
                   torch.nn.functional.layer_norm(xn.float(), (cols,), w.float(), bias.float()), 5e-2, 2e-2, rep)
            _check(f"rms_norm_{cols}", rms_norm(xn, w), rms_norm_reference(xn, w), 5e-2, 2e-2, rep)
            t_ln, t_ln_ref = bench(lambda: layer_norm(xn, w, bias)), \
                bench(lambda: torch.nn.functional.layer_norm(xn, (cols,), w, bias))
            t_rms, t_rms_ref = bench(lambda: rms_norm(xn, w)), bench(lambda: rms_norm_reference(xn, w))
            nbytes = 2 * xn.numel() * xn.element_size()
            rows.append({"rows": sz.norm_rows, "cols": cols, "layernorm_GB/s": nbytes / t_ln / 1e9,
                         "layernorm_vs_torch": t_ln_ref / t_ln, "rmsnorm_GB/s": nbytes / t_rms / 1e9,
                         "rmsnorm_vs_torch_eager": t_rms_ref / t_rms})
        res["norm_forward"] = rows
        ratios["layernorm_vs_torch_min"] = min(r["layernorm_vs_torch"] for r in rows)
        ratios["rmsnorm_vs_torch_min"] = min(r["rmsnorm_vs_torch_eager"] for r in rows)

    if want("attention"):
        from torch.nn.functional import scaled_dot_product_attention as sdpa
        rows = []
        for n_tok in sz.attn_lens:
            shape = (sz.attn_batch, sz.attn_heads, n_tok, sz.attn_dim)
            for causal in (False, True):
                q, k, v = (torch.randn(shape, device=dev, dtype=half, requires_grad=True) for _ in range(3))
                o = flash_attention(q, k, v, causal=causal)
                if n_tok == sz.attn_lens[0]:
                    _check(f"flash_fwd_causal={causal}", o, attention_reference(q, k, v, causal), 2e-2, 2e-2, rep)
                flops = 4 * math.prod(shape) * n_tok / (2 if causal else 1)
                t_k = bench(lambda: flash_attention(q, k, v, causal=causal))
                t_ref = bench(lambda: sdpa(q, k, v, is_causal=causal))
                do = torch.randn_like(o)
                o_ref = sdpa(q, k, v, is_causal=causal)
                t_kb = bench(lambda: torch.autograd.grad(o, (q, k, v), do, retain_graph=True))
                t_refb = bench(lambda: torch.autograd.grad(o_ref, (q, k, v), do, retain_graph=True))
                rows.append({"N": n_tok, "causal": causal, "fwd_TFLOP/s": flops / t_k / 1e12,
                             "sdpa_fwd_TFLOP/s": flops / t_ref / 1e12, "fwd_vs_sdpa": t_ref / t_k,
                             "bwd_TFLOP/s": 2.5 * flops / t_kb / 1e12, "sdpa_bwd_TFLOP/s": 2.5 * flops / t_refb / 1e12,
                             "bwd_vs_sdpa": t_refb / t_kb})
        res["flash_attention"] = rows
        top = [r for r in rows if r["N"] == max(sz.attn_lens)]
        ratios["flash_fwd_vs_sdpa_min"] = min(r["fwd_vs_sdpa"] for r in top)
        ratios["flash_bwd_vs_sdpa_min"] = min(r["bwd_vs_sdpa"] for r in top)

    if want("quant"):
        n = sz.gemv
        w = torch.randn(n, n, device=dev, dtype=half)
        xq = torch.randn(1, n, device=dev, dtype=half)
        packed, scales = quantize_int4(w, sz.group)
        q8, s8 = quantize_int8(w)
        _check("int4_gemv", int4_matmul(xq, packed, scales, sz.group),
               int4_matmul_reference(xq, packed, scales, sz.group), 5e-1, 2e-2, rep)
        t_bf = bench(lambda: xq @ w.T)
        t_i4 = bench(lambda: int4_matmul(xq, packed, scales, sz.group))
        t_i8 = bench(lambda: int8_matmul(xq, q8, s8))
        res["gemv"] = {"n": n, "bf16_us": t_bf * 1e6, "int4_us": t_i4 * 1e6, "int8_us": t_i8 * 1e6,
                       "int4_weight_GB/s": packed.numel() / t_i4 / 1e9}
        ratios["int4_gemv_vs_bf16"] = t_bf / t_i4
        ratios["int8_gemv_vs_bf16"] = t_bf / t_i8
        if not smoke:
            try:  # PyTorch's own int4 kernel (tinygemm), when this build has it
                w_int = (torch.round(w.float() / (w.float().abs().amax() / 7)).clamp(-8, 7) + 8).to(torch.int32)
                w_pack = torch.ops.aten._convert_weight_to_int4pack(w_int, 8)
                sz_ = torch.ones(n // sz.group, n, 2, device=dev, dtype=torch.bfloat16)
                t_ti4 = bench(lambda: torch.ops.aten._weight_int4pack_mm(xq, w_pack, sz.group, sz_))
                res["gemv"]["torch_int4_us"] = t_ti4 * 1e6
                ratios["int4_gemv_vs_torch_int4"] = t_ti4 / t_i4
            except Exception as exc:  # noqa: BLE001 - recorded, not fatal
                res["gemv"]["torch_int4_error"] = f"{type(exc).__name__}: {exc}"[:300]

    if want("paged"):
        b, ctx, h, hkv, blk, d = (sz.paged_batch, sz.paged_ctx, sz.paged_heads, sz.paged_kv_heads,
                                  sz.paged_block, sz.attn_dim)
        per_seq = math.ceil(ctx / blk)
        kc = torch.randn(b * per_seq, hkv, blk, d, device=dev, dtype=half)
        vc = torch.randn_like(kc)
        table = torch.randperm(b * per_seq, device=dev).reshape(b, per_seq).int().contiguous()
        lens = torch.full((b,), ctx, dtype=torch.int32, device=dev)
        qd = torch.randn(b, h, d, device=dev, dtype=half)
        _check("paged_attention", paged_attention(qd, kc, vc, table, lens),
               paged_attention_reference(qd, kc, vc, table, lens), 2e-2, 2e-2, rep)
        t_p = bench(lambda: paged_attention(qd, kc, vc, table, lens))
        kv_bytes = 2 * b * ctx * hkv * d * kc.element_size()
        res["paged_attention"] = {"batch": b, "context": ctx, "heads": h, "kv_heads": hkv, "kv_bytes": kv_bytes,
                                  "seconds": t_p, "GB/s": kv_bytes / t_p / 1e9}
        ratios["paged_vs_copy"] = kv_bytes / t_p / 1e9 / copy_gbs
    rep["met"] = _verdicts(ratios)
    return rep


def _verdicts(ratios: dict) -> dict:
    pairs = {"softmax_vs_torch_min": "softmax_vs_torch", "softmax_vs_copy_min": "softmax_vs_copy",
             "matmul_float16_vs_cublas": "matmul_vs_cublas", "matmul_bfloat16_vs_cublas": "matmul_vs_cublas",
             "layernorm_vs_torch_min": "norm_vs_torch", "rmsnorm_vs_torch_min": "norm_vs_torch",
             "flash_fwd_vs_sdpa_min": "flash_fwd_vs_sdpa", "flash_bwd_vs_sdpa_min": "flash_bwd_vs_sdpa",
             "int4_gemv_vs_bf16": "int4_gemv_vs_bf16", "int4_gemv_vs_torch_int4": "int4_gemv_vs_torch_int4",
             "paged_vs_copy": "paged_vs_copy"}
    return {k: {"ratio": ratios[k], "target": TARGETS[t], "met": ratios[k] >= TARGETS[t]}
            for k, t in pairs.items() if k in ratios}


def _provenance(smoke: bool) -> dict:
    import triton

    info = {"date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "torch": torch.__version__, "triton": triton.__version__, "python": platform.python_version(),
            "mode": "interpreter smoke test (not a measurement)" if smoke else "compiled on GPU"}
    if torch.cuda.is_available() and not smoke:
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, sm_count=props.multi_processor_count, memory_GiB=round(props.total_memory / 2**30, 1),
                    cuda=torch.version.cuda, capability=".".join(map(str, torch.cuda.get_device_capability(0))))
        try:
            import subprocess

            info["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                            capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            info["driver"] = "unknown"
    else:
        info.update(gpu="none (CPU, Triton interpreter)", cpu=platform.processor() or platform.machine())
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m book.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="toy sizes in Triton's interpreter: checks the script, measures nothing")
    ap.add_argument("--out", type=Path, default=None, help=f"JSON file to write (default {DEFAULT_OUT}; stdout with --smoke)")
    ap.add_argument("--only", default=None, help="comma-separated subset: matmul,softmax,norm,attention,quant,paged")
    args = ap.parse_args(argv)
    report = run(smoke=args.smoke, only=set(args.only.split(",")) if args.only else None)
    text = json.dumps(report, indent=2, sort_keys=True)
    out = args.out if args.out is not None else (None if args.smoke else DEFAULT_OUT)
    if out is None:
        print(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
        print(f"wrote {out}")
    for name, v in report["met"].items():
        print(f"{name:>28}: {v['ratio']:.2f} (target {v['target']}) {'met' if v['met'] else 'MISSED'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
