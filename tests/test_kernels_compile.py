"""Every Triton kernel compiles to a cubin for Hopper (sm_90, bf16) and Turing (sm_75, fp16), without a GPU.

The interpreter tests check what the kernels compute; this checks that
Triton's compiler accepts them at the block sizes the wrappers use on a GPU.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("arch, dtype", [(90, "bf16"), (75, "fp16")])
def test_every_kernel_compiles_for_the_gpu(arch, dtype, tmp_path):
    env = dict(os.environ, TRITON_CACHE_DIR=str(tmp_path), TRITON_INTERPRET="0")
    run = subprocess.run([sys.executable, "-m", "book.kernels.compile_check", "--arch", str(arch), "--dtype", dtype],
                         capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert run.stdout.count("ok ") >= 20


def test_refuses_to_run_on_interpreted_kernels():
    env = dict(os.environ, TRITON_INTERPRET="1")
    run = subprocess.run([sys.executable, "-m", "book.kernels.compile_check"], capture_output=True, text=True,
                         timeout=300, env=env)
    assert run.returncode != 0 and "TRITON_INTERPRET=0" in run.stderr
