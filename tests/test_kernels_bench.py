"""``python -m book.kernels.bench``: the benchmark's code paths run end to end (``--smoke``, in the interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from book.kernels import bench


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU run the real benchmark instead")
def test_smoke_run_checks_every_kernel_and_says_it_is_no_measurement(tmp_path):
    out = tmp_path / "smoke.json"
    assert bench.main(["--smoke", "--out", str(out)]) == 0
    rep = json.loads(out.read_text())
    assert rep["provenance"]["mode"].startswith("interpreter smoke test")
    assert set(rep["results"]) == {"copy", *bench.FAMILIES}
    assert set(rep["checks"]) == {"matmul_fp16", "softmax_100", "softmax_1024", "layer_norm_256", "rms_norm_256",
                                  "flash_fwd_causal=False", "flash_fwd_causal=True", "int4_gemv", "paged_attention"}
    # Every target is reported under its own name (bf16 and tinygemm's int4 baseline exist only on a GPU).
    assert set(rep["met"]) == set(bench.TARGETS) - {"matmul_bf16_vs_cublas", "int4_gemv_vs_torch_int4"}
    for name, verdict in rep["met"].items():
        assert verdict["ratio"] == rep["ratios"][name] and verdict["target"] == bench.TARGETS[name]


def test_smoke_runs_as_a_module_and_a_subset_runs_alone():
    run = subprocess.run([sys.executable, "-m", "book.kernels.bench", "--smoke", "--only", "softmax"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    rep = json.loads(run.stdout)
    assert set(rep["results"]) == {"copy", "softmax"} and set(rep["met"]) == {"softmax_vs_torch", "softmax_vs_copy"}


def test_a_kernel_that_disagrees_with_its_reference_stops_the_run():
    run = bench.Run(smoke=True, sizes=bench.SMOKE)
    with pytest.raises(AssertionError, match="softmax_7: 1 of 3 elements differ"):
        run.check("softmax_7", torch.tensor([1.0, 2.0, 3.5]), torch.tensor([1.0, 2.0, 3.0]), rtol=1e-5, atol=1e-6)
    assert "softmax_7" not in run.checks


def test_without_a_gpu_the_real_benchmark_refuses_clearly():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(SystemExit, match="no CUDA GPU here; use --smoke"):
        bench.run(smoke=False)
    with pytest.raises(SystemExit, match="unknown kernel families"):
        bench.run(smoke=True, only={"softmaxx"})


def test_recorded_reference_figures_say_where_they_come_from():
    ref = bench.reference_figures()
    prov = ref["provenance"]
    assert "H200" in prov["gpu"] and "do_bench" in prov["timing"] and prov["gpus_used"] == 1
    assert prov["date"] and prov["torch"] and prov["triton"]
    assert "not the book's" in prov["what"] and "default backend" in prov["sdpa"]
    assert "halved for causal" in prov["flops"]
    # Every figure is described, and every description names a figure that is there.
    numbers = set(ref) - {"provenance", "figures"}
    assert numbers == set(ref["figures"]) and ref["copy_GB/s"] > 0


def test_the_reference_figures_ship_as_package_data():
    tomllib = pytest.importorskip("tomllib")          # Python 3.11+

    from nbtools import ROOT

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert bench.REFERENCE_FILE in data["book.kernels"]
    assert not (ROOT / "part3_efficiency" / bench.REFERENCE_FILE).exists(), "one copy only: book/kernels/"


def test_recorded_results_skip_a_smoke_report_and_a_missing_file(tmp_path):
    assert bench.recorded_results(tmp_path / "none.json") is None
    (tmp_path / "smoke.json").write_text(json.dumps({"provenance": {"mode": "interpreter smoke test (not ...)"}}))
    assert bench.recorded_results(tmp_path / "smoke.json") is None
    (tmp_path / "gpu.json").write_text(json.dumps({"provenance": {"mode": "compiled on GPU"}, "results": {}}))
    assert bench.recorded_results(tmp_path / "gpu.json")["results"] == {}
