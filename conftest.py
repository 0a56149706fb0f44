"""pytest configuration shared by the notebook (nbval) and package tests.

It sits at the repository root so that it applies to the notebooks under
part*/ as well as to tests/. MPLBACKEND is deliberately left alone: the
notebook kernels must keep Jupyter's inline backend to produce figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tools"))  # nbtools: the bootstrap cell and notebook list

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


def pytest_collectstart(collector):
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += NOT_COMPARED
