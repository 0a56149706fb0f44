"""The book's structural rules, read from the committed files (nothing executed).

Every notebook is in the table of contents and vice versa; notebooks are
committed executed once, in order, without errors, warnings or stray stderr;
each starts with the Colab bootstrap cell built from ``_config.yml``; each has
objectives, a summary, exercises and references; few outputs are excluded from
nbval's comparison, and each excluded one is still asserted; no assert compares
literals only; glossary links and section labels resolve; and no code fetches
anything from the network.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

from nbtools import BOOTSTRAP, ROOT, notebooks, repository_url
from yaml_glossary import load_terms

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
    assert "remove-input" in first.get("metadata", {}).get("tags", []), (
        f"{path.name}: tag the bootstrap cell remove-input")


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
    assert "{footcite" in md and "{footbibliography}" in md, (
        f"{path.name}: cite with {{footcite:p}} and end with {{footbibliography}}")
    assert "{cite" not in md and "{bibliography}" not in md, (
        f"{path.name}: use {{footcite}}/{{footbibliography}}, not {{cite}}/{{bibliography}}")
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


# Loopback is allowed (Part VI serves a model on 127.0.0.1 and talks to it); the network guard of
# tools/offline enforces the same rule at run time. "requests" alone is a word the serving engine needs.
NETWORK = re.compile(r"urllib|urlopen|^\s*(?:import|from)\s+requests\b|\brequests\.(?:get|post|put|head|Session)\b|"
                     r"https?://(?!127\.0\.0\.1|localhost)|\bwget\b|\bcurl\b|torch\.hub|from_pretrained|"
                     r"load_dataset\(|fetch_openml|hf_hub|\bsocket\.(?:create_connection|getaddrinfo)\b|"
                     r"download=True", re.M)


def _code_sources():
    for path in NOTEBOOKS:
        cells = [c for c in _cells(path) if c["cell_type"] == "code"]
        for i, c in enumerate(cells[1:], start=2):  # the first cell is the Colab bootstrap
            yield f"{path.relative_to(ROOT)} (code cell {i})", "".join(c["source"])
    for py in sorted((ROOT / "book").rglob("*.py")):
        yield str(py.relative_to(ROOT)), py.read_text(encoding="utf-8")


def test_network_pattern_catches_downloads_and_spares_loopback():
    for src in ("import requests", "requests.get(url)", "urlopen(u)", "x = 'https://example.com/w.bin'",
                "torch.hub.load(...)", "AutoModel.from_pretrained('gpt2')", "socket.create_connection((h, 80))"):
        assert NETWORK.search(src), src
    for src in ("pending requests are scheduled", "base_url='http://127.0.0.1:8000/v1'", "http://localhost:8000",
                "s.bind(('127.0.0.1', 0))"):
        assert not NETWORK.search(src), src


# Code that talks HTTP to the book's own server on 127.0.0.1 says so with this marker; the marker lifts the
# HTTP-client part of the pattern for that cell or file only (hub downloads and the rest stay forbidden),
# and the run-time network guard still refuses anything but loopback.
LOOPBACK_MARKER = "# loopback only"
NETWORK_NOT_HTTP = re.compile(r"^\s*(?:import|from)\s+requests\b|\bwget\b|\bcurl\b|torch\.hub|from_pretrained|"
                              r"load_dataset\(|fetch_openml|hf_hub|\bsocket\.(?:create_connection|getaddrinfo)\b|"
                              r"download=True", re.M)


def _network_hit(src: str):
    return (NETWORK_NOT_HTTP if LOOPBACK_MARKER in src else NETWORK).search(src)


def test_loopback_marker_lifts_only_the_http_client_part():
    assert _network_hit("urlopen(f'http://{host}:{port}/v1')  # loopback only")  is None
    assert _network_hit("urlopen(f'http://{host}:{port}/v1')")
    assert _network_hit("# loopback only\nmodel = AutoModel.from_pretrained('gpt2')")


def test_no_code_fetches_from_the_network():
    hits = [f"{where}: {m.group(0)!r}" for where, src in _code_sources() for m in [_network_hit(src)] if m]
    assert not hits, f"code that looks like it downloads something: {hits}"


# --- Outputs: what nbval compares, and what the committed notebook shows ---

IGNORE_TAG = "nbval-ignore-output"
MAX_IGNORED_SHARE = 0.25   # of the code cells whose printed text nbval compares
COMPARED_MIME = "text/plain"


def _prints(cell: dict) -> bool:
    """True when nbval compares some text this cell printed (stdout, or a plain-text result)."""
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream" and o.get("name") == "stdout":
            return True
        if o.get("output_type") in ("execute_result", "display_data") and set(o.get("data", {})) == {COMPARED_MIME}:
            return True
    return False


def _ignored(cell: dict) -> bool:
    return IGNORE_TAG in cell.get("metadata", {}).get("tags", []) or "NBVAL_IGNORE_OUTPUT" in "".join(cell["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NB_IDS)
def test_few_outputs_are_excluded_from_comparison(path):
    """A printed value that depends on a training trajectory may be excluded; its claim is still asserted."""
    code = [c for c in _cells(path) if c["cell_type"] == "code"]
    printing = [c for c in code if _prints(c)]
    ignored = [c for c in printing if _ignored(c)]
    assert len(ignored) <= MAX_IGNORED_SHARE * len(printing), (
        f"{path.name}: {len(ignored)} of {len(printing)} printing cells are excluded from nbval's comparison "
        f"(at most {MAX_IGNORED_SHARE:.0%}); print what the claim needs (a bound, a rounded metric) instead")
    unchecked = [i for i, c in enumerate(code, 1) if c in ignored and "assert" not in "".join(c["source"])]
    assert not unchecked, (f"{path.name}: code cells {unchecked} are excluded from comparison but assert "
                           "nothing; keep the claim checked in the cell that prints it")


PROGRESS_BAR = re.compile(r"\d+%\||\d+(?:/\d+)?(?:it)? ?\[\d+:\d+(?:<[\d:?]+)?")
WARNING_OR_TRACEBACK = re.compile(r"\b\w*Warning\b:|Traceback \(most recent call last\)|^\s*warnings\.warn", re.M)


def _text_outputs(cell: dict):
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            yield o.get("name"), "".join(o.get("text", ""))
        elif o.get("output_type") in ("execute_result", "display_data", "error"):
            yield "data", "".join(o.get("data", {}).get(COMPARED_MIME, "")) + "".join(o.get("traceback", []))


def output_problems(cell: dict) -> list[str]:
    """Warnings and tracebacks in any output, and stderr text other than progress bars."""
    problems = []
    for stream, text in _text_outputs(cell):
        if WARNING_OR_TRACEBACK.search(text):
            problems.append(f"{stream}: {WARNING_OR_TRACEBACK.search(text).group(0)!r}")
        elif stream == "stderr":
            rest = [seg for seg in re.split(r"[\r\n]+", text) if seg.strip() and not PROGRESS_BAR.search(seg)]
            if rest:
                problems.append(f"stderr: {rest[0][:120]!r}")
    return problems


def test_output_problems_are_detected():
    def cell(name, text):
        return {"outputs": [{"output_type": "stream", "name": name, "text": text}]}
    assert output_problems(cell("stderr", "\rtrain:  45%|████▌     | 45/100 [00:01<00:02, 30.1it/s]\n")) == []
    assert output_problems(cell("stderr", "\rsteps: 17it [00:03,  5.2it/s]")) == []
    assert output_problems(cell("stderr", "/x.py:3: UserWarning: deprecated\n  warnings.warn(msg)"))
    assert output_problems(cell("stderr", "some stray message"))
    assert output_problems(cell("stdout", "Traceback (most recent call last):\n  File ..."))
    assert output_problems(cell("stdout", "accuracy 0.95")) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NB_IDS)
def test_outputs_hold_no_warning_traceback_or_stray_stderr(path):
    """The HTML book hides stderr, so a warning would be invisible there: none may be committed.

    Progress bars (tqdm, on stderr) are the only stderr a chapter may print.
    """
    problems = [f"code cell {i}: {p}" for i, c in enumerate([c for c in _cells(path) if c["cell_type"] == "code"], 1)
                for p in output_problems(c)]
    assert not problems, f"{path.name}: {problems}"


def _code_without_magics(src: str) -> str:
    return "\n".join("pass" if line.lstrip().startswith(("%", "!")) else line for line in src.splitlines())


def literal_asserts(src: str) -> list[int]:
    """Line numbers of asserts whose test reads no variable, call or attribute: they can never fail on wrong code."""
    found = []
    for node in ast.walk(ast.parse(_code_without_magics(src))):
        if isinstance(node, ast.Assert) and not any(
                isinstance(n, (ast.Name, ast.Attribute, ast.Call, ast.Subscript)) for n in ast.walk(node.test)):
            found.append(node.lineno)
    return found


def test_literal_asserts_are_detected():
    assert literal_asserts("assert 2 * 64 < 174") == [1]
    assert literal_asserts("x = 1\nassert x < 2\nassert (3, 4) != (4, 3)") == [3]
    assert literal_asserts("%time y = 2\nassert y == 2") == []


def test_no_assert_compares_only_literals():
    hits = [f"{where}: line {n}" for where, src in _code_sources() for n in literal_asserts(src)]
    assert not hits, f"asserts on literals alone can never fail: {hits}"


def test_every_notebook_has_its_checker_module_and_its_test():
    """book/exercises/ mirrors the notebooks, and each checker module has a test module that imports it."""
    problems = []
    for path in NOTEBOOKS:
        rel = path.relative_to(ROOT).with_suffix("")
        module = ROOT / "book" / "exercises" / rel.parent / f"{rel.name}.py"
        test = ROOT / "tests" / "exercises" / rel.parent / f"test_{rel.name}.py"
        dotted = f"book.exercises.{rel.parent}"
        if not module.is_file():
            problems.append(f"{rel}: no checker module {module.relative_to(ROOT)}")
        if not test.is_file():
            problems.append(f"{rel}: no test {test.relative_to(ROOT)}")
        elif f"{dotted} import {rel.name}" not in test.read_text(encoding="utf-8"):
            problems.append(f"{test.relative_to(ROOT)} does not import {dotted}.{rel.name}")
        if module.is_file() and f"{dotted} import {rel.name}" not in _text(path, "code"):
            problems.append(f"{rel}: the notebook does not import its checkers ({dotted} import {rel.name})")
    stray = [p.relative_to(ROOT) for p in (ROOT / "book" / "exercises").rglob("ch*.py")
             if not (ROOT / p.relative_to(ROOT / "book" / "exercises")).with_suffix(".ipynb").is_file()]
    assert not problems and not stray, f"{problems}; checker modules without a notebook: {stray}"


CITED_LABEL = re.compile(r"\b(p[1-6]-[a-z0-9][a-z0-9.-]*[a-z0-9])\b")


def test_package_docstrings_cite_sections_that_exist():
    """The package cites chapters one way, by section label (``Taught in p1-6.2``), and every label resolves."""
    labels = {m.group(1).lower() for page in _all_pages() for m in LABEL_TARGET.finditer(_text(page, "markdown"))}
    unknown = []
    for py in sorted((ROOT / "book").rglob("*.py")):
        doc = ast.get_docstring(ast.parse(py.read_text(encoding="utf-8"))) or ""
        if re.search(r"Part [IV]+ §|Part [IV]+, chapter|chapter \d", doc):
            unknown.append(f"{py.relative_to(ROOT)}: cites a chapter in words; use its section label")
        unknown += [f"{py.relative_to(ROOT)}: {m.group(1)}" for m in CITED_LABEL.finditer(doc)
                    if m.group(1).lower() not in labels]
    assert not unknown, f"package docstrings citing sections no page defines: {unknown}"
