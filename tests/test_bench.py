"""``python -m book.bench --smoke``: the benchmark's code paths run end to end in the interpreter."""

from __future__ import annotations

import json

import pytest
import torch

from book import bench


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU run the real benchmark instead")
def test_smoke_run_checks_every_kernel_and_says_it_is_no_measurement(tmp_path, capsys):
    out = tmp_path / "smoke.json"
    assert bench.main(["--smoke", "--out", str(out)]) == 0
    rep = json.loads(out.read_text())
    assert rep["provenance"]["mode"].startswith("interpreter smoke test")
    assert all(c["ok"] for c in rep["checks"].values())
    for key in ("copy", "softmax_fp32", "norm_forward", "flash_attention", "gemv", "paged_attention"):
        assert key in rep["results"], key
    assert set(rep["met"]) <= set(rep["ratios"])


def test_without_a_gpu_the_real_benchmark_refuses_clearly():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(SystemExit, match="no CUDA GPU here; use --smoke"):
        bench.run(smoke=False)


def test_recorded_reference_figures_are_labelled():
    from nbtools import ROOT

    ref = json.loads((ROOT / "part3_efficiency" / "h200_reference.json").read_text())
    assert "H200" in ref["provenance"]["gpu"] and ref["copy_GB/s"] > 0
