"""``python -m book.kernels.bench``: check every Triton kernel against PyTorch on a GPU, time both, write JSON.

On a CUDA GPU it (1) measures the chip's own ceilings, device-to-device copy
bandwidth and cuBLAS matmul throughput, then, one function per kernel family,
(2) checks each kernel against its PyTorch reference with
:func:`book.checks.assert_close` and (3) times the kernel and its PyTorch
baseline in the same run (``triton.testing.do_bench`` medians after warm-up).
It writes every figure, the ratios the book aims for (:data:`TARGETS`, keyed by
the same names as the ratios each family reports) and the provenance (GPU,
driver, CUDA, torch, triton, date, timing method) to a JSON file that the
chapters p3-i-a-results and p3-i-b-forward plot.

Without a GPU, ``--smoke`` runs the same code paths at toy sizes in Triton's
interpreter, timed by :func:`book.timing.time_fn`: a test that the script
works, not a measurement (the JSON says so).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from book.checks import assert_close
from book.timing import time_fn

DEFAULT_OUT = Path("part3_efficiency") / "gpu_results.json"
#: Package data: PyTorch/cuBLAS baselines measured on one H200, with their provenance (:func:`reference_figures`).
REFERENCE_FILE = "h200_reference.json"


def reference_figures() -> dict:
    """The measured H200 baselines that ship with the package: copy rate, cuBLAS, softmax, SDPA, GEMV.

    They are PyTorch and cuBLAS figures, not the book's kernels; ``["provenance"]`` says when, on what and
    how they were measured, and ``["figures"]`` what each number is. Read from the installed package, so a
    notebook opened on its own (on Colab) finds them too.

    >>> ref = reference_figures()
    >>> "do_bench" in ref["provenance"]["timing"] and all(key in ref for key in ref["figures"])
    True
    """
    from importlib.resources import files

    return json.loads(files("book.kernels").joinpath(REFERENCE_FILE).read_text(encoding="utf-8"))


def recorded_results(path: str | Path = "gpu_results.json") -> dict | None:
    """The report a GPU run of this module wrote to ``path``, or None if there is none or it is a smoke test.

    A ``--smoke`` report comes from the interpreter and measures nothing, so the chapters never plot it.
    """
    path = Path(path)
    if not path.exists():
        return None
    report = json.loads(path.read_text(encoding="utf-8"))
    return None if "smoke" in report.get("provenance", {}).get("mode", "") else report

#: The least value the book aims for, per ratio (each is "ours / baseline" in speed, measured in one run).
TARGETS = {
    "softmax_vs_torch": 1.0,          # min over row lengths 1k..32k, fp32, against torch.softmax
    "softmax_vs_copy": 0.85,          # min over row lengths: fraction of the copy bandwidth
    "matmul_fp16_vs_cublas": 0.9,     # 4096³
    "matmul_bf16_vs_cublas": 0.9,
    "layernorm_vs_torch": 1.3,        # forward, min over widths ≥ 4096, against F.layer_norm
    "rmsnorm_vs_torch": 1.3,          # forward, against F.rms_norm
    "flash_fwd_vs_sdpa": 0.8,         # bf16, D = 128, T = 4096, min over causal and not
    "flash_bwd_vs_sdpa": 0.5,
    "int4_gemv_vs_bf16": 2.5,         # 8192 × 8192 decode GEMV
    "int4_gemv_vs_torch_int4": 1.0,   # torch.ops.aten._weight_int4pack_mm (tinygemm)
    "paged_vs_copy": 0.6,             # KV bytes read per second as a fraction of the copy bandwidth
}


@dataclass(frozen=True)
class Sizes:
    """Benchmark sizes: ``GPU`` fills an H100/H200-class chip; ``SMOKE`` runs in seconds in the interpreter."""

    copy_bytes: int
    softmax_elems: int
    softmax_cols: tuple[int, ...]
    matmul: int
    norm_rows: int
    norm_cols: tuple[int, ...]
    attn_batch: int
    attn_heads: int
    attn_lens: tuple[int, ...]
    attn_target_len: int              # the length at which flash_*_vs_sdpa are read
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
            attn_lens=(512, 1024, 2048, 4096, 8192), attn_target_len=4096, attn_dim=128, gemv=8192, group=128,
            paged_batch=32, paged_ctx=4096, paged_heads=32, paged_kv_heads=8, paged_block=16)
SMOKE = Sizes(copy_bytes=1 << 16, softmax_elems=1 << 12, softmax_cols=(100, 1024), matmul=64, norm_rows=16,
              norm_cols=(256,), attn_batch=1, attn_heads=1, attn_lens=(32, 48), attn_target_len=48, attn_dim=64,
              gemv=128, group=64, paged_batch=2, paged_ctx=40, paged_heads=4, paged_kv_heads=2, paged_block=16)


@dataclass
class Run:
    """What every family's benchmark shares: sizes, device, dtypes, the timer, the checks so far, the copy rate."""

    smoke: bool
    sizes: Sizes
    checks: dict = field(default_factory=dict)
    copy_gbs: float = float("nan")

    @property
    def device(self) -> str:
        return "cpu" if self.smoke else "cuda"

    @property
    def half(self) -> torch.dtype:
        return torch.float16 if self.smoke else torch.bfloat16     # the interpreter has no bf16

    def seconds(self, fn: Callable[[], object]) -> float:
        """Seconds per call: do_bench's median on a GPU; book.timing's median of 3 in the interpreter."""
        if self.smoke:
            return time_fn(fn, repeat=3, warmup=1).median
        import triton.testing

        return triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median") * 1e-3

    def check(self, name: str, got: torch.Tensor, want: torch.Tensor, rtol: float, atol: float) -> None:
        """Raise (book.checks.assert_close's report) unless the kernel matches its reference; record the error."""
        err = assert_close(got.detach().float(), want.detach().float(), rtol=rtol, atol=atol, name=name)
        self.checks[name] = {"max_abs_err": err, "rtol": rtol, "atol": atol}


# --------------------------------------------------------------------------- one function per family
# Each returns (results, ratios); every ratio name that has a target is a key of TARGETS.

def bench_copy(run: Run) -> tuple[dict, dict]:
    x = torch.empty(run.sizes.copy_bytes // 4, device=run.device, dtype=torch.float32).normal_()
    y = torch.empty_like(x)
    t = run.seconds(lambda: y.copy_(x))
    run.copy_gbs = 2 * x.numel() * 4 / t / 1e9
    return {"bytes": 2 * x.numel() * 4, "seconds": t, "GB/s": run.copy_gbs}, {}


def bench_matmul(run: Run) -> tuple[dict, dict]:
    from book.kernels.matmul import matmul

    n = run.sizes.matmul
    res, ratios = {"n": n}, {}
    for dt, name in [(torch.float16, "fp16")] + ([] if run.smoke else [(torch.bfloat16, "bf16")]):
        a, b = torch.randn(n, n, device=run.device, dtype=dt), torch.randn(n, n, device=run.device, dtype=dt)
        run.check(f"matmul_{name}", matmul(a, b), a.float() @ b.float(), rtol=2e-2, atol=1e-1)
        t_ours, t_ref = run.seconds(lambda: matmul(a, b)), run.seconds(lambda: a @ b)
        res[name] = {"triton_TFLOP/s": 2 * n ** 3 / t_ours / 1e12, "cublas_TFLOP/s": 2 * n ** 3 / t_ref / 1e12}
        ratios[f"matmul_{name}_vs_cublas"] = t_ref / t_ours
    return res, ratios


def bench_softmax(run: Run) -> tuple[dict, dict]:
    from book.kernels.softmax import softmax

    rows = []
    for cols in run.sizes.softmax_cols:
        m = max(1, run.sizes.softmax_elems // cols)
        s = torch.randn(m, cols, device=run.device)
        run.check(f"softmax_{cols}", softmax(s), torch.softmax(s, -1), rtol=1e-5, atol=1e-6)
        nbytes = 2 * s.numel() * 4
        t_ours, t_ref = run.seconds(lambda: softmax(s)), run.seconds(lambda: torch.softmax(s, -1))
        rows.append({"rows": m, "cols": cols, "triton_GB/s": nbytes / t_ours / 1e9, "torch_GB/s": nbytes / t_ref / 1e9})
    return rows, {"softmax_vs_torch": min(r["triton_GB/s"] / r["torch_GB/s"] for r in rows),
                  "softmax_vs_copy": min(r["triton_GB/s"] for r in rows) / run.copy_gbs}


def bench_norm(run: Run) -> tuple[dict, dict]:
    import torch.nn.functional as F

    from book.kernels.norm import layer_norm, rms_norm

    rows = []
    for cols in run.sizes.norm_cols:
        x = torch.randn(run.sizes.norm_rows, cols, device=run.device, dtype=run.half)
        w, b = (torch.randn(cols, device=run.device, dtype=run.half) for _ in range(2))
        run.check(f"layer_norm_{cols}", layer_norm(x, w, b), F.layer_norm(x.float(), (cols,), w.float(), b.float()),
                  rtol=2e-2, atol=5e-2)
        run.check(f"rms_norm_{cols}", rms_norm(x, w), F.rms_norm(x.float(), (cols,), w.float(), eps=1e-6),
                  rtol=2e-2, atol=5e-2)
        gb = 2 * x.numel() * x.element_size() / 1e9
        rows.append({"rows": run.sizes.norm_rows, "cols": cols,
                     "layernorm_GB/s": gb / run.seconds(lambda: layer_norm(x, w, b)),
                     "torch_layernorm_GB/s": gb / run.seconds(lambda: F.layer_norm(x, (cols,), w, b)),
                     "rmsnorm_GB/s": gb / run.seconds(lambda: rms_norm(x, w)),
                     "torch_rmsnorm_GB/s": gb / run.seconds(lambda: F.rms_norm(x, (cols,), w, eps=1e-6))})
    return rows, {"layernorm_vs_torch": min(r["layernorm_GB/s"] / r["torch_layernorm_GB/s"] for r in rows),
                  "rmsnorm_vs_torch": min(r["rmsnorm_GB/s"] / r["torch_rmsnorm_GB/s"] for r in rows)}


def bench_attention(run: Run) -> tuple[dict, dict]:
    from torch.nn.functional import scaled_dot_product_attention as sdpa

    from book.kernels.flash_attention import attention_reference, flash_attention

    sz, rows = run.sizes, []
    for t_len in sz.attn_lens:
        shape = (sz.attn_batch, sz.attn_heads, t_len, sz.attn_dim)          # (B, H, T, D)
        for causal in (False, True):
            q, k, v = (torch.randn(shape, device=run.device, dtype=run.half, requires_grad=True) for _ in range(3))
            o = flash_attention(q, k, v, causal=causal)
            if t_len == sz.attn_lens[0]:
                run.check(f"flash_fwd_causal={causal}", o, attention_reference(q, k, v, causal), rtol=2e-2, atol=2e-2)
            flops = 4 * math.prod(shape) * t_len / (2 if causal else 1)    # 4·B·H·T²·D, halved for causal
            do = torch.randn_like(o)
            o_ref = sdpa(q, k, v, is_causal=causal)
            t_fwd = run.seconds(lambda: flash_attention(q, k, v, causal=causal))
            t_fwd_ref = run.seconds(lambda: sdpa(q, k, v, is_causal=causal))
            t_bwd = run.seconds(lambda: torch.autograd.grad(o, (q, k, v), do, retain_graph=True))
            t_bwd_ref = run.seconds(lambda: torch.autograd.grad(o_ref, (q, k, v), do, retain_graph=True))
            rows.append({"T": t_len, "causal": causal, "fwd_TFLOP/s": flops / t_fwd / 1e12,
                         "sdpa_fwd_TFLOP/s": flops / t_fwd_ref / 1e12,
                         "bwd_TFLOP/s": 2.5 * flops / t_bwd / 1e12,           # backward: 2.5× the forward FLOPs
                         "sdpa_bwd_TFLOP/s": 2.5 * flops / t_bwd_ref / 1e12})
    at = [r for r in rows if r["T"] == sz.attn_target_len]
    return rows, {"flash_fwd_vs_sdpa": min(r["fwd_TFLOP/s"] / r["sdpa_fwd_TFLOP/s"] for r in at),
                  "flash_bwd_vs_sdpa": min(r["bwd_TFLOP/s"] / r["sdpa_bwd_TFLOP/s"] for r in at)}


def bench_quant(run: Run) -> tuple[dict, dict]:
    from book.kernels.quant_matmul import int4_matmul, int8_matmul
    from book.quant.weight_only import int4_matmul_reference, quantize_int4, quantize_int8

    n, g = run.sizes.gemv, run.sizes.group
    w = torch.randn(n, n, device=run.device, dtype=run.half)
    x = torch.randn(1, n, device=run.device, dtype=run.half)
    packed, scales = quantize_int4(w, g)
    q8, s8 = quantize_int8(w)
    run.check("int4_gemv", int4_matmul(x, packed, scales, g), int4_matmul_reference(x, packed, scales, g),
              rtol=2e-2, atol=5e-1)
    t_half, t_i4 = run.seconds(lambda: x @ w.T), run.seconds(lambda: int4_matmul(x, packed, scales, g))
    t_i8 = run.seconds(lambda: int8_matmul(x, q8, s8))
    res = {"n": n, "half_us": t_half * 1e6, "int4_us": t_i4 * 1e6, "int8_us": t_i8 * 1e6,
           "int4_weight_GB/s": packed.numel() / t_i4 / 1e9}
    ratios = {"int4_gemv_vs_bf16": t_half / t_i4, "int8_gemv_vs_bf16": t_half / t_i8}
    if not run.smoke:
        try:  # PyTorch's own int4 kernel (tinygemm), when this build has it
            w_int = (torch.round(w.float() / (w.float().abs().amax() / 7)).clamp(-8, 7) + 8).to(torch.int32)
            w_pack = torch.ops.aten._convert_weight_to_int4pack(w_int, 8)
            sz = torch.ones(n // g, n, 2, device=run.device, dtype=torch.bfloat16)
            t_torch = run.seconds(lambda: torch.ops.aten._weight_int4pack_mm(x, w_pack, g, sz))
            res["torch_int4_us"] = t_torch * 1e6
            ratios["int4_gemv_vs_torch_int4"] = t_torch / t_i4
        except Exception as exc:  # noqa: BLE001 - recorded, not fatal
            res["torch_int4_error"] = f"{type(exc).__name__}: {exc}"[:300]
    return res, ratios


def bench_paged(run: Run) -> tuple[dict, dict]:
    from book.kernels.paged_attention import paged_attention, paged_attention_reference

    sz = run.sizes
    b, ctx, h, hkv = sz.paged_batch, sz.paged_ctx, sz.paged_heads, sz.paged_kv_heads
    blk, d = sz.paged_block, sz.attn_dim
    per_seq = math.ceil(ctx / blk)
    kc = torch.randn(b * per_seq, hkv, blk, d, device=run.device, dtype=run.half)
    vc = torch.randn_like(kc)
    table = torch.randperm(b * per_seq, device=run.device).reshape(b, per_seq).int().contiguous()
    lens = torch.full((b,), ctx, dtype=torch.int32, device=run.device)
    q = torch.randn(b, h, d, device=run.device, dtype=run.half)
    run.check("paged_attention", paged_attention(q, kc, vc, table, lens),
              paged_attention_reference(q, kc, vc, table, lens), rtol=2e-2, atol=2e-2)
    t = run.seconds(lambda: paged_attention(q, kc, vc, table, lens))
    kv_bytes = 2 * b * ctx * hkv * d * kc.element_size()
    res = {"batch": b, "context": ctx, "heads": h, "kv_heads": hkv, "kv_bytes": kv_bytes, "seconds": t,
           "GB/s": kv_bytes / t / 1e9}
    return res, {"paged_vs_copy": res["GB/s"] / run.copy_gbs}


FAMILIES: dict[str, Callable[[Run], tuple[dict, dict]]] = {
    "matmul": bench_matmul, "softmax": bench_softmax, "norm": bench_norm, "attention": bench_attention,
    "quant": bench_quant, "paged": bench_paged}


def run(smoke: bool = False, only: set[str] | None = None) -> dict:
    """Check and time every kernel family (or those in ``only``); return the report (see the module docstring)."""
    from book.kernels import INTERPRETED  # sets the interpreter switch first

    if not smoke and (INTERPRETED or not torch.cuda.is_available()):
        raise SystemExit("book.kernels.bench: no CUDA GPU here; use --smoke for an interpreter run of the same "
                         "code paths")
    unknown = set(only or ()) - set(FAMILIES)
    if unknown:
        raise SystemExit(f"unknown kernel families {sorted(unknown)}; choose from {sorted(FAMILIES)}")
    torch.manual_seed(0)
    bench = Run(smoke=smoke, sizes=SMOKE if smoke else GPU)
    results, ratios = {}, {}
    results["copy"], _ = bench_copy(bench)                     # every "vs_copy" ratio needs it
    for name, family in FAMILIES.items():
        if only is None or name in only:
            results[name], found = family(bench)
            ratios.update(found)
    met = {name: {"ratio": ratios[name], "target": target, "met": ratios[name] >= target}
           for name, target in TARGETS.items() if name in ratios}
    return {"provenance": _provenance(smoke), "targets": TARGETS, "checks": bench.checks, "results": results,
            "ratios": ratios, "met": met}


def _provenance(smoke: bool) -> dict:
    import triton

    info = {"date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "torch": torch.__version__, "triton": triton.__version__, "python": platform.python_version(),
            "mode": "interpreter smoke test (not a measurement)" if smoke else "compiled on GPU",
            "timing": ("book.timing.time_fn median of 3 after 1 warm-up" if smoke else
                       "triton.testing.do_bench median (25 ms warm-up, 100 ms of repetitions)"),
            "sdpa": "torch.nn.functional.scaled_dot_product_attention, torch's default backend selection",
            "flops": "matmul 2n³; attention 4·B·H·T²·D, halved for causal; backward 2.5× the forward"}
    if torch.cuda.is_available() and not smoke:
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, sm_count=props.multi_processor_count,
                    memory_GiB=round(props.total_memory / 2**30, 1),
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
    ap = argparse.ArgumentParser(prog="python -m book.kernels.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true",
                    help="toy sizes in Triton's interpreter: checks the script, measures nothing")
    ap.add_argument("--out", type=Path, default=None,
                    help=f"JSON file to write (default {DEFAULT_OUT}; stdout with --smoke)")
    ap.add_argument("--only", default=None, help=f"comma-separated subset of {','.join(FAMILIES)}")
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
        print(f"{name:>24}: {v['ratio']:.2f} (target {v['target']}) {'met' if v['met'] else 'MISSED'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
