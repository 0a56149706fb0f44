"""The book's structural rules, read from the committed files (nothing executed).

Every notebook is in the table of contents and vice versa; notebooks are
committed executed once, in order, without errors; each starts with the Colab
bootstrap cell built from ``_config.yml``; each has objectives, a summary,
exercises and references; glossary links and section labels resolve; and no
code fetches anything from the network.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from nbtools import BOOTSTRAP, ROOT, notebooks, repository_url

from book.glossary import load_terms

NOTEBOOKS = notebooks()
NB_IDS = [str(p.relative_to(ROOT)) for p in NOTEBOOKS]
TERM_ROLE = re.compile(r"\{term\}`([^`]+)`")
LABEL_TARGET = re.compile(r"^\(([^)\s]+)\)=\s*$", re.M)
MIN_WORDS = 1500


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    found = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                found.append(node["file"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(toc.get("parts", toc.get("chapters", [])))
    return found


def _source_of(entry: str) -> Path:
    for ext in (".ipynb", ".md"):
        if (ROOT / (entry + ext)).is_file():
            return ROOT / (entry + ext)
    raise FileNotFoundError(entry)


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _text(path: Path, kind: str | None = None) -> str:
    if path.suffix == ".md":
        return path.read_text(encoding="utf-8") if kind in (None, "markdown") else ""
    return "\n".join("".join(c["source"]) for c in _cells(path) if kind is None or c["cell_type"] == kind)


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found under part*/"


def test_toc_lists_existing_files():
    missing = []
    for entry in _toc_files():
        try:
            _source_of(entry)
        except FileNotFoundError:
            missing.append(entry)
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


def test_every_notebook_is_in_the_toc():
    listed = set(_toc_files())
    absent = [i for p, i in zip(NOTEBOOKS, NB_IDS) if str(p.relative_to(ROOT).with_suffix("")) not in listed]
    assert not absent, f"notebooks missing from _toc.yml: {absent}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NB_IDS)
def test_executed_in_order_without_errors(path):
    counts, errors = [], []
    for i, c in enumerate(_cells(path)):
        if c["cell_type"] != "code" or not "".join(c["source"]).strip():
            continue
        counts.append(c.get("execution_count"))
        errors += [f"cell {i}: {o.get('ename')}: {o.get('evalue')}" for o in c.get("outputs", [])
                   if o.get("output_type") == "error"]
    assert not errors, f"{path.name} was committed with error outputs: {errors}"
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts} are not 1..n; re-run it with "
        f"`make execute NB={path.relative_to(ROOT)}`")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NB_IDS)
def test_first_code_cell_is_the_colab_bootstrap(path):
    first = next(c for c in _cells(path) if c["cell_type"] == "code")
    assert "".join(first["source"]) == BOOTSTRAP, (
        f"{path.name}: the first code cell must be the Colab bootstrap cell exactly "
        "(see tools/nbtools.py, which builds it from _config.yml's repository url)")
    assert "remove-input" in first.get("metadata", {}).get("tags", []), f"{path.name}: tag the bootstrap cell remove-input"


def test_bootstrap_installs_from_the_configured_repository():
    url = repository_url()
    assert url.startswith("https://github.com/"), url
    assert f"git+{url}" in BOOTSTRAP


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NB_IDS)
def test_metadata_objectives_prerequisites_runtime(path):
    meta = json.loads(path.read_text(encoding="utf-8"))["metadata"].get("book", {})
    assert len(meta.get("objectives", [])) >= 3, f"{path.name}: metadata.book.objectives needs 3-5 items"
    assert meta.get("prerequisites"), f"{path.name}: metadata.book.prerequisites is missing"
    budget = meta.get("cpu_budget_seconds")
    measured = meta.get("measured_cpu_seconds")
    assert isinstance(budget, (int, float)) and budget > 0, f"{path.name}: metadata.book.cpu_budget_seconds is missing"
    assert isinstance(measured, (int, float)), f"{path.name}: not executed with tools/execute_notebooks.py"
    assert measured <= budget, f"{path.name}: took {measured} s, over its CPU budget of {budget} s"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NB_IDS)
def test_required_sections(path):
    md = _text(path, "markdown")
    for heading in ("Learning objectives", "## Summary", "## Exercises", "## References"):
        assert heading in md, f"{path.name}: missing the '{heading}' section"
    assert "{exercise}" in md or "{exercise-start}" in md, f"{path.name}: has no exercise directive"
    assert "{solution" in md, f"{path.name}: exercises need solutions (dropdowns)"
    # Page-local footnote citations: the same paper cited by several chapters
    # would otherwise be a duplicate citation (a Sphinx warning, so a failed build).
    assert "{footcite" in md and "{footbibliography}" in md, f"{path.name}: cite with {{footcite:p}} and end with {{footbibliography}}"
    assert "{cite" not in md and "{bibliography}" not in md, f"{path.name}: use {{footcite}}/{{footbibliography}}, not {{cite}}/{{bibliography}}"
    assert LABEL_TARGET.search(md), f"{path.name}: sections need stable labels like (p1-1.2)="
    words = len(re.findall(r"[A-Za-z]{2,}", md))
    assert words >= MIN_WORDS, f"{path.name}: {words} words of prose; a chapter has at least {MIN_WORDS}"


def _all_pages() -> list[Path]:
    return [_source_of(e) for e in _toc_files()]


def test_glossary_links_resolve():
    names = {n.lower() for e in load_terms(ROOT / "glossary/terms.yml") for n in e.names}
    unknown = []
    for page in _all_pages():
        for m in TERM_ROLE.finditer(_text(page, "markdown")):
            target = m.group(1)
            target = re.search(r"<([^>]+)>$", target).group(1) if target.endswith(">") else target
            if target.lower() not in names:
                unknown.append(f"{page.relative_to(ROOT)}: {{term}}`{m.group(1)}`")
    assert not unknown, f"terms not in glossary/terms.yml: {unknown}"


def test_glossary_sections_exist():
    labels = {m.group(1).lower() for page in _all_pages() for m in LABEL_TARGET.finditer(_text(page, "markdown"))}
    missing = [f"glossary/terms.yml:{e.line}: '{e.term}' -> {s}" for e in load_terms(ROOT / "glossary/terms.yml")
               for s in e.sections if s.lower() not in labels]
    assert not missing, f"section labels that no page defines: {missing}"


NETWORK = re.compile(r"urllib|urlopen|\brequests\b|https?://|\bwget\b|\bcurl\b|torch\.hub|from_pretrained|"
                     r"load_dataset\(|fetch_openml|hf_hub|\bsocket\b|download=True")


def _code_sources():
    for path in NOTEBOOKS:
        cells = [c for c in _cells(path) if c["cell_type"] == "code"]
        for i, c in enumerate(cells[1:], start=2):  # the first cell is the Colab bootstrap
            yield f"{path.relative_to(ROOT)} (code cell {i})", "".join(c["source"])
    for py in sorted((ROOT / "book").rglob("*.py")):
        yield str(py.relative_to(ROOT)), py.read_text(encoding="utf-8")


def test_no_code_fetches_from_the_network():
    hits = [f"{where}: {m.group(0)!r}" for where, src in _code_sources() for m in [NETWORK.search(src)] if m]
    assert not hits, f"code that looks like it downloads something: {hits}"
