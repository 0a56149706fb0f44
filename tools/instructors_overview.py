"""The instructors' overview: every chapter with its objectives, prerequisites, exercises and runtime.

:func:`chapters` reads the table of contents and each chapter notebook:
``metadata.book`` (objectives, prerequisites, CPU budget, measured runtime),
its exercises (``{exercise}`` directives, and how many of them a checker of
``book.exercises`` verifies) and the chapters its **Prerequisites** paragraph
links to. The ``{chapter-overview}`` directive renders one table per part, so
the page can never disagree with the notebooks; ``{course-paths}`` renders the
suggested courses of ``tools/course_paths.yml`` week by week, and
:func:`path_problems` checks that each course teaches a chapter's
prerequisites before the chapter (``tests/test_overview.py`` runs it). Used by
``instructors.md``.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import yaml

COURSES = Path(__file__).resolve().parent / "course_paths.yml"
_DOC_LINK = re.compile(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`")
_REF_LINK = re.compile(r"\{ref\}`(?:[^`<]*<)?([^`>]+)>?`")
_LABEL = re.compile(r"^\(([\w-]+)\)=\s*$", re.M)
_CHECK_CALL = re.compile(r"\.check_\w+\(")


@dataclass(frozen=True)
class Chapter:
    part: str                 # the TOC caption, e.g. "Part I: Foundations"
    docname: str              # e.g. "part1_foundations/ch01_core_ml"
    title: str
    objectives: tuple[str, ...]
    prerequisites: tuple[str, ...]
    budget_s: float
    measured_s: float | None
    exercises: int = 0        # {exercise} directives
    checked: int = 0          # of those, how many a book.exercises checker verifies
    requires: tuple[str, ...] = ()   # earlier chapters the Prerequisites paragraph links to


def _title(cells: list[dict]) -> str:
    for c in cells:
        if c["cell_type"] == "markdown":
            for line in "".join(c["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "(untitled)"


def _exercises(cells: list[dict]) -> tuple[int, int]:
    """(exercises, checked exercises): an exercise is checked when its solution calls ``ex.check_*``."""
    total, checked, inside, has_check = 0, 0, False, False
    for c in cells:
        text = "".join(c["source"])
        if c["cell_type"] == "code":
            has_check |= inside and bool(_CHECK_CALL.search(text))
            continue
        for line in text.splitlines():
            if re.match(r"^`{3,}\{exercise\}", line):
                total += 1
            elif re.match(r"^`{3,}\{solution-start\}", line):
                inside, has_check = True, False
            elif re.match(r"^`{3,}\{solution-end\}", line):
                checked += has_check
                inside = False
    return total, checked


def _linked_chapters(cells: list[dict], docname: str, labels: dict[str, str]) -> list[str]:
    """The chapters the **Prerequisites** paragraph links to ({doc}, or {ref} to a section label), as docnames."""
    for c in cells[:10]:
        text = "".join(c["source"])
        m = re.search(r"\*\*Prerequisites:?\*\*:?(.*?)(?:\n\s*\n|$)", text, re.S)
        if c["cell_type"] == "markdown" and m:
            here = posixpath.dirname(docname)
            docs = [link.lstrip("/") if link.startswith("/") else posixpath.normpath(posixpath.join(here, link))
                    for link in _DOC_LINK.findall(m.group(1))]
            return docs + [labels[ref] for ref in _REF_LINK.findall(m.group(1)) if ref in labels]
    return []


def _labels(root: Path) -> dict[str, str]:
    """Every ``(label)=`` target in the chapter notebooks → its docname."""
    out = {}
    for path in sorted(root.glob("part*/*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        doc = path.relative_to(root).with_suffix("").as_posix()
        for c in nb["cells"]:
            if c["cell_type"] == "markdown":
                out.update(dict.fromkeys(_LABEL.findall("".join(c["source"])), doc))
    return out


def chapters(root: str | Path) -> list[Chapter]:
    """Every notebook listed in ``_toc.yml``, in reading order, with its metadata."""
    root = Path(root)
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    out: list[Chapter] = []
    labels = _labels(root)

    def visit(entries, part):
        for entry in entries or []:
            doc = entry.get("file")
            if doc and (root / f"{doc}.ipynb").is_file():
                nb = json.loads((root / f"{doc}.ipynb").read_text(encoding="utf-8"))
                meta = nb["metadata"].get("book", {})
                earlier = {c.docname for c in out}
                requires = tuple(d for d in dict.fromkeys(_linked_chapters(nb["cells"], doc, labels)) if d in earlier)
                out.append(Chapter(part, doc, _title(nb["cells"]), tuple(meta.get("objectives", ())),
                                   tuple(meta.get("prerequisites", ())), float(meta.get("cpu_budget_seconds", 0)),
                                   meta.get("measured_cpu_seconds"), *_exercises(nb["cells"]), requires))
            visit(entry.get("sections"), part)

    for part in toc.get("parts", []):
        visit(part.get("chapters"), part.get("caption", ""))
    return out


def colab_url(repository: str, docname: str, branch: str = "main") -> str:
    """The Colab address that opens ``docname``'s notebook from the repository on GitHub."""
    return f"https://colab.research.google.com/github/{urlparse(repository).path.strip('/')}/blob/{branch}/{docname}.ipynb"


def _repository(root: Path) -> str:
    return yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))["repository"]["url"]


def to_myst(rows: list[Chapter], repository: str = "") -> str:
    """Per part: a table (chapter, exercises, budget, measured, Colab), then each chapter's objectives."""
    lines: list[str] = []
    for part in dict.fromkeys(r.part for r in rows):
        mine = [r for r in rows if r.part == part]
        measured = sum(r.measured_s or 0 for r in mine)
        lines += [f"### {part}", "",
                  f"{len(mine)} notebooks, {sum(r.exercises for r in mine)} exercises "
                  f"({sum(r.checked for r in mine)} with a checker); {measured:.0f} s measured on a 2-core CPU "
                  f"(budgets add up to {sum(r.budget_s for r in mine):.0f} s).", "",
                  "| Chapter | Exercises (checked) | CPU budget | Measured | Open |",
                  "|---|---|---|---|---|"]
        for r in mine:
            got = f"{r.measured_s:.0f} s" if r.measured_s is not None else "not run"
            colab = f"[Colab]({colab_url(repository, r.docname)})" if repository else ""
            lines.append(f"| {{doc}}`/{r.docname}` | {r.exercises} ({r.checked}) | {r.budget_s:.0f} s | {got} "
                         f"| {colab} |")
        lines.append("")
        for r in mine:
            objectives = "; ".join(o.rstrip(".") for o in r.objectives)
            needs = ", ".join(f"{{doc}}`/{d}`" for d in r.requires) or "none in the book"
            lines += [f"{{doc}}`/{r.docname}`", f": **You will be able to:** {objectives}.",
                      f"  **Prerequisites:** {'; '.join(r.prerequisites)}. **Chapters before it:** {needs}.", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- course paths

def courses(path: Path = COURSES) -> list[dict]:
    """The suggested courses: each a name, a description, the chapters it assumes, and weeks of chapters."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))["courses"]


def path_problems(course: dict, rows: list[Chapter]) -> list[str]:
    """Each chapter of ``course`` whose prerequisite chapters are neither assumed nor taught earlier in it."""
    known = {r.docname: r for r in rows}
    seen, problems = set(course.get("assumes", [])), []
    for assumed in seen:
        if assumed not in known:
            problems.append(f"{course['name']}: assumes {assumed}, which is not a chapter")
    for week, docs in enumerate(course["weeks"], start=1):
        for doc in docs:
            if doc not in known:
                problems.append(f"{course['name']}, week {week}: {doc} is not a chapter")
                continue
            problems += [f"{course['name']}, week {week}: {doc} needs {d}, which comes later or not at all"
                         for d in known[doc].requires if d not in seen]
            seen.add(doc)         # a chapter may rely on one taught the same week, listed before it
    return problems


def courses_to_myst(items: list[dict], rows: list[Chapter]) -> str:
    titles = {r.docname: r for r in rows}
    lines: list[str] = []
    for c in items:
        total = sum((titles[d].measured_s or 0) for week in c["weeks"] for d in week)
        lines += [f"### {c['name']}", "", " ".join(c["description"].split()), ""]
        if c.get("assumes"):
            lines += ["Assumes: " + ", ".join(f"{{doc}}`/{d}`" for d in c["assumes"]) + ".", ""]
        lines += ["| Week | Chapters | Exercises |", "|---|---|---|"]
        for week, docs in enumerate(c["weeks"], start=1):
            lines.append(f"| {week} | " + ", ".join(f"{{doc}}`/{d}`" for d in docs)
                         + f" | {sum(titles[d].exercises for d in docs)} |")
        lines += ["", f"Every notebook of this course runs in {total / 60:.0f} minutes in all on a 2-core CPU.", ""]
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
            text = to_myst(rows, _repository(root))
            self.state.nested_parse(StringList(text.splitlines(), source="chapter-overview"), 0, container)
            return container.children

    class CoursePaths(SphinxDirective):
        has_content = False

        def run(self):
            root = Path(self.env.srcdir)
            self.env.note_dependency(str(COURSES))
            rows, items = chapters(root), courses()
            problems = [p for c in items for p in path_problems(c, rows)]
            if problems:
                raise self.error("course paths that teach a chapter before its prerequisites: " + "; ".join(problems))
            container = nodes.container()
            self.state.nested_parse(StringList(courses_to_myst(items, rows).splitlines(), source="course-paths"),
                                    0, container)
            return container.children

    app.add_directive("chapter-overview", ChapterOverview)
    app.add_directive("course-paths", CoursePaths)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
