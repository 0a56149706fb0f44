"""pytest configuration shared by the notebook (nbval) and package tests.

It sits at the repository root so that it applies to the notebooks under
part*/ as well as to tests/. MPLBACKEND is deliberately left alone: the
notebook kernels must keep Jupyter's inline backend to produce figures.

Every test run is made to prove three things beyond the tests themselves:

* **Outputs do not depend on the CPU.** Notebooks are executed natively
  (``make execute``); the test run re-executes them as if on another CPU:
  PyTorch's vectorized kernels are switched off (``ATEN_CPU_CAPABILITY=default``)
  and oneDNN is held to SSE4.1, which changes float rounding the way a
  different processor does. A printed number that depends on rounding fails
  here, on the author's machine, before it fails on a reader's.
  (``BOOK_TEST_NATIVE_CPU=1`` turns the emulation off, for debugging only.)
* **The book runs offline.** The network guard (``tools/offline/netguard.py``)
  is installed in this process and, through ``PYTHONPATH``, in every notebook
  kernel and every process it starts: a connection off the machine raises.
* **Nothing hangs.** Kernels start over IPC with a bounded start-up time and
  retries (``tools/nbtools.py``); pytest-timeout bounds every test.

Notebooks are run in parallel (pytest-xdist, each notebook whole on one
worker, ``--dist loadfile``), with one PyTorch thread per kernel so that the
workers do not fight over the cores.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tools"))  # nbtools: the bootstrap cell, the notebook list, kernel start-up
sys.path.insert(0, str(ROOT / "tools" / "offline"))  # netguard
sys.path.insert(0, str(ROOT / "glossary"))  # yaml_glossary: the glossary's Sphinx extension

import nbtools  # noqa: E402
import netguard  # noqa: E402

# Set before anything imports torch, in the controller and in every xdist worker.
CROSS_CPU = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"}
if os.environ.get("BOOK_TEST_NATIVE_CPU") != "1":
    for _name, _value in CROSS_CPU.items():
        os.environ[_name] = _value
# MKL is PyTorch's BLAS here; limiting it sets PyTorch's intra-op threads to one.
os.environ.setdefault("MKL_NUM_THREADS", "1")
nbtools.use_network_guard()
netguard.install()

# Outputs that legitimately change from run to run and are not compared by
# nbval: progress bars (stderr), HTML animations (random element ids), widget
# views (random model ids) and images (pixel-level platform differences).
# Text outputs, where the chapters print their checked numbers, are compared.
NOT_COMPARED = (
    "stderr",
    "text/html",
    "application/javascript",
    "application/vnd.jupyter.widget-view+json",
    "image/png",
    "image/jpeg",
    "image/svg+xml",
)


def _install_kernel_start() -> None:
    """nbval starts its kernels with the book's start-up (IPC transport, bounded, retried)."""
    import nbval.kernel

    def start_new_kernel(startup_timeout=nbtools.STARTUP_TIMEOUT, kernel_name="python", **kwargs):
        return nbtools.start_kernel(kernel_name, startup_timeout=startup_timeout,
                                    kernel_spec_manager=nbval.kernel.NbvalKernelspecManager(),
                                    what=f"nbval kernel in {kwargs.get('cwd')}", **kwargs)

    nbval.kernel.start_new_kernel = start_new_kernel


_install_kernel_start()


def pytest_report_header(config):
    emulated = ", ".join(f"{k}={os.environ.get(k)}" for k in CROSS_CPU)
    mode = "native CPU (BOOK_TEST_NATIVE_CPU=1)" if os.environ.get("BOOK_TEST_NATIVE_CPU") == "1" else emulated
    return [f"book: outputs compared under {mode}; network guard on; "
            f"MKL_NUM_THREADS={os.environ.get('MKL_NUM_THREADS')}"]


def pytest_collectstart(collector):
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += NOT_COMPARED
