"""Authoring helpers for the book's notebooks (not part of the reader's package).

* :data:`BOOTSTRAP` — the exact first code cell of every notebook, built from
  the repository address in ``_config.yml``;
* :func:`execute` — run a notebook in place on a fresh kernel, so the
  committed outputs come from executing the committed source.

Command line: ``python tools/execute_notebooks.py PATH.ipynb`` or ``all``.
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def repository_url(root: Path = ROOT) -> str:
    """The repository address, written once in ``_config.yml``."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    return config["repository"]["url"]


def bootstrap_source(url: str) -> str:
    """The Colab bootstrap cell: installs the companion package on Colab, nothing elsewhere."""
    return (
        "# On Colab, install the book's companion package from its repository; elsewhere do nothing.\n"
        "import importlib.util, subprocess, sys\n"
        "if \"google.colab\" in sys.modules and importlib.util.find_spec(\"book\") is None:\n"
        f"    package = \"git+{url}\"\n"
        "    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", package], check=True)"
    )


BOOTSTRAP = bootstrap_source(repository_url())


def notebooks(root: Path = ROOT) -> list[Path]:
    """Every chapter notebook under ``part*/``, sorted."""
    return sorted(p for p in root.glob("part*/**/*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts and "_build" not in p.parts)


def execute(path: Path, timeout: int = 900) -> float:
    """Execute ``path`` in place on a fresh kernel; record the wall time in its metadata.

    Returns the seconds taken. The kernel starts in the notebook's folder, as
    Jupyter and nbval start it.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    nb.metadata.setdefault("book", {})["measured_cpu_seconds"] = round(seconds, 1)
    nb.metadata.pop("widgets", None)  # live widget state is meaningless once saved
    nbformat.write(nb, path)
    return seconds
