"""The student edition (``make student``, tools/student_edition.py): solutions out, checkers in.

The solution text is found here by a line-by-line reading of the fences,
independently of the tool's regular expressions, so that a mistake in either
shows up as a disagreement.
"""

from __future__ import annotations

import ast
import collections
import json
import re

import pytest

import nbtools
import student_edition

CHAPTERS = nbtools.notebooks()
CHECK_CALL = re.compile(r"\.check_\w+\(")            # ex.check_softmax(...): a checker of book.exercises


def _load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _solution_parts(nb) -> tuple[list[str], list[str]]:
    """(Markdown lines, code cell sources) that belong to solutions, read fence by fence."""
    text_lines, code_cells, inside, fence = [], [], False, None
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code":
            if inside:
                code_cells.append(source)
            continue
        lines = iter(source.splitlines())
        for line in lines:
            if fence and line.strip() == fence:                      # end of a {solution} block
                fence = None
            elif fence:
                text_lines.append(line)
            elif re.match(r"^`{3,}\{solution\}", line):
                fence = re.match(r"^`+", line).group()
            elif re.match(r"^`{3,}\{solution-start\}", line):
                start_fence = re.match(r"^`+", line).group()
                for rest in lines:                                    # options, then the closing fence
                    if rest.strip() == start_fence:
                        break
                inside = True
            elif re.match(r"^`{3,}\{solution-end\}", line):
                next(lines, None)                                     # its closing fence
                inside = False
            elif inside:
                text_lines.append(line)
    return text_lines, code_cells


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    written = student_edition.write(out)
    return {p.relative_to(out).as_posix(): _load(p) for p in written}


def test_every_chapter_has_a_student_copy(edition):
    assert set(edition) == {p.relative_to(nbtools.ROOT).as_posix() for p in CHAPTERS}


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_solution_text_survives(edition, path):
    original = _load(path)
    text_lines, code_cells = _solution_parts(original)
    assert text_lines or code_cells, f"{path.name}: no solutions found (did the fences change?)"
    student = edition[path.relative_to(nbtools.ROOT).as_posix()]
    student_text = "\n".join("".join(c["source"]) for c in student["cells"])
    original_text = "\n".join("".join(c["source"]) for c in original["cells"])
    assert "{solution" not in student_text

    def leaked(snippet):      # more copies in the student edition than outside the solutions of the original
        outside = original_text.count(snippet) - sum(part.count(snippet) for part in text_lines + code_cells)
        return len(snippet) >= 30 and student_text.count(snippet) > outside

    lines = [ln.strip() for ln in text_lines if leaked(ln.strip())]
    assert not lines, f"{path.name}: solution text left in the student edition: {lines[:3]}"
    for code in code_cells:                    # every statement that is not a checker call or stub is gone
        for node in ast.parse(code).body:
            if isinstance(node, ast.Assign | ast.AugAssign | ast.For | ast.While | ast.With):
                segment = ast.get_source_segment(code, node)
                assert not leaked(segment), (path.name, segment[:80])


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_exercise_keeps_its_checker(edition, path):
    original = _load(path)
    student = edition[path.relative_to(nbtools.ROOT).as_posix()]

    def calls(nb):
        return collections.Counter(m.group() for c in nb["cells"] if c["cell_type"] == "code"
                                   for m in CHECK_CALL.finditer("".join(c["source"])))

    def labels(nb):
        return re.findall(r":label: (ex-[\w-]+)", "\n".join("".join(c["source"]) for c in nb["cells"]))

    assert calls(student) == calls(original) and sum(calls(original).values()) >= 2
    assert labels(student) == labels(original) and len(labels(original)) >= 3
    for cell in student["cells"]:
        if cell["cell_type"] == "code":
            lines = "".join(cell["source"]).splitlines()
            ast.parse("\n".join(ln for ln in lines if not ln.lstrip().startswith(("%", "!"))))


def test_a_student_notebook_runs_to_its_first_exercise(edition, tmp_path):
    # the cheapest chapter of Part I (which reads no files beside it), executed up to, not including,
    # the cell that states its first exercise
    part1 = [p for p in CHAPTERS if p.parent.name == "part1_foundations"]
    path = min(part1, key=lambda p: _load(p)["metadata"]["book"].get("measured_cpu_seconds", 1e9))
    nb = edition[path.relative_to(nbtools.ROOT).as_posix()]
    first = next(i for i, c in enumerate(nb["cells"]) if "{exercise}" in "".join(c["source"]))
    nb["cells"] = nb["cells"][:first]
    target = tmp_path / path.parent.name / path.name
    target.parent.mkdir()
    target.write_text(json.dumps(nb), encoding="utf-8")
    nbtools.execute(target, timeout=300)             # raises CellExecutionError on the first failing cell
    ran = _load(target)
    errors = [o for c in ran["cells"] if c["cell_type"] == "code" for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors and any(c["cell_type"] == "code" and c["outputs"] for c in ran["cells"])
