"""The instructors' overview: every chapter with its objectives, prerequisites and runtime.

:func:`chapters` reads the table of contents and each chapter notebook's
``metadata.book`` (objectives, prerequisites, CPU budget, measured runtime),
and the ``{chapter-overview}`` directive renders it as one table per part, so
the overview page can never disagree with the notebooks. Used by
``instructors.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Chapter:
    part: str                 # the TOC caption, e.g. "Part I: Foundations"
    docname: str              # e.g. "part1_foundations/ch01_core_ml"
    title: str
    objectives: tuple[str, ...]
    prerequisites: tuple[str, ...]
    budget_s: float
    measured_s: float | None


def _title(cells: list[dict]) -> str:
    for c in cells:
        if c["cell_type"] == "markdown":
            for line in "".join(c["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "(untitled)"


def chapters(root: str | Path) -> list[Chapter]:
    """Every notebook listed in ``_toc.yml``, in reading order, with its metadata."""
    root = Path(root)
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    out: list[Chapter] = []

    def visit(entries, part):
        for entry in entries or []:
            doc = entry.get("file")
            if doc and (root / f"{doc}.ipynb").is_file():
                nb = json.loads((root / f"{doc}.ipynb").read_text(encoding="utf-8"))
                meta = nb["metadata"].get("book", {})
                out.append(Chapter(part, doc, _title(nb["cells"]), tuple(meta.get("objectives", ())),
                                   tuple(meta.get("prerequisites", ())), float(meta.get("cpu_budget_seconds", 0)),
                                   meta.get("measured_cpu_seconds")))
            visit(entry.get("sections"), part)

    for part in toc.get("parts", []):
        visit(part.get("chapters"), part.get("caption", ""))
    return out


def to_myst(rows: list[Chapter]) -> str:
    """One table per part: chapter link, objectives, prerequisites, budget and measured CPU seconds."""
    lines: list[str] = []
    for part in dict.fromkeys(r.part for r in rows):
        mine = [r for r in rows if r.part == part]
        measured = sum(r.measured_s or 0 for r in mine)
        lines += [f"## {part}", "",
                  f"{len(mine)} notebooks; {measured:.0f} s measured on a 2-core CPU "
                  f"(budgets add up to {sum(r.budget_s for r in mine):.0f} s).", "",
                  "| Chapter | You will be able to | Prerequisites | CPU budget | Measured |",
                  "|---|---|---|---|---|"]
        for r in mine:
            objectives = "; ".join(o.rstrip(".") for o in r.objectives).replace("|", "\\|")
            prereqs = "; ".join(r.prerequisites).replace("|", "\\|")
            got = f"{r.measured_s:.0f} s" if r.measured_s is not None else "not run"
            lines.append(f"| {{doc}}`/{r.docname}` | {objectives} | {prereqs} | {r.budget_s:.0f} s | {got} |")
        lines.append("")
    return "\n".join(lines)


def setup(app):  # pragma: no cover - exercised by the book build
    from docutils import nodes
    from docutils.statemachine import StringList
    from sphinx.util.docutils import SphinxDirective

    class ChapterOverview(SphinxDirective):
        has_content = False

        def run(self):
            root = Path(self.env.srcdir)
            self.env.note_dependency(str(root / "_toc.yml"))
            rows = chapters(root)
            for r in rows:
                self.env.note_dependency(str(root / f"{r.docname}.ipynb"))
            container = nodes.container()
            self.state.nested_parse(StringList(to_myst(rows).splitlines(), source="chapter-overview"), 0, container)
            return container.children

    app.add_directive("chapter-overview", ChapterOverview)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
