"""Re-execute notebooks in place: ``python tools/execute_notebooks.py all`` or a path.

Cells are numbered 1..n in order on a fresh kernel, and each notebook's
measured runtime is written to its metadata (``book.measured_cpu_seconds``),
where the test suite compares it with the chapter's CPU budget. Notebooks run
one after another on this CPU as it is (no emulation, every core), with the
network guard installed in each kernel, as in the test run.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbtools import ROOT, execute, notebooks, use_network_guard  # noqa: E402


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    paths = notebooks() if argv == ["all"] else [Path(a).resolve() for a in argv]
    use_network_guard()
    for p in paths:
        if not p.is_file() or p.suffix != ".ipynb":
            print(f"not a notebook: {p}", file=sys.stderr)
            return 2
        seconds = execute(p)
        shown = p.relative_to(ROOT) if p.is_relative_to(ROOT) else p
        print(f"{shown}: executed in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
