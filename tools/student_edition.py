"""The student edition: every notebook with its solutions removed and its exercise checkers kept.

``make student`` (or ``python tools/student_edition.py [OUT]``) writes a copy of
each chapter notebook under ``_build/student/`` (a folder the book build
ignores), keeping the folder layout, so that ``from book.exercises...`` and the
relative links still work when a student opens it.

What changes, and only in the exercises:

* A solution written in Markdown (``{solution}`` directive, or the text between
  ``{solution-start}`` and ``{solution-end}``) becomes a prompt,
  "*Your answer:*", so the student knows where to write.
* A code cell inside a solution keeps its checker: the imports from
  ``book.exercises`` and every top-level call of a ``check_*`` function stay
  as they are. Functions and classes the checker is called with keep their
  signature and docstring, with a body that raises ``NotImplementedError``;
  everything else in the cell (the worked solution, its prints) is removed,
  and so are the cell's outputs.

Everything before the first exercise is untouched, outputs included, so the
chapter reads as before and runs to its first exercise.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbtools import ROOT, notebooks  # noqa: E402

OUT = ROOT / "_build" / "student"
ANSWER = "*Your answer:*"
TODO = "# Your solution: fill in the bodies below, then run the cell to check them."

# ```{solution} ... ``` (any fence of 3+ backticks, closed by the same fence)
_SOLUTION_BLOCK = re.compile(r"^(?P<fence>`{3,})\{solution\}[^\n]*\n.*?^(?P=fence)[ \t]*$", re.M | re.S)
_START = re.compile(r"^(?P<fence>`{3,})\{solution-start\}[^\n]*\n(?:.*?\n)??(?P=fence)[ \t]*$", re.M | re.S)
_END = re.compile(r"^(?P<fence>`{3,})\{solution-end\}[^\n]*\n(?P=fence)[ \t]*$", re.M)


def _is_check_call(node: ast.stmt) -> bool:
    """A top-level statement (not a definition) that calls ``check_*``, e.g. ``ex.check_softmax(f)``."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return False
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            f = call.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name.startswith("check_"):
                return True
    return False


def _is_checker_import(node: ast.stmt) -> bool:
    return isinstance(node, ast.ImportFrom) and (node.module or "").startswith("book.exercises")


def _stub(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> ast.stmt:
    """The definition with its signature and docstring, its body replaced by ``raise NotImplementedError``."""
    node = copy.deepcopy(node)
    doc = ast.get_docstring(node, clean=False)
    keep = [ast.Expr(ast.Constant(doc))] if doc else []
    if isinstance(node, ast.ClassDef):
        methods = [_stub(n) for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        node.body = keep + methods or [ast.Pass()]
    else:
        node.body = keep + [ast.parse('raise NotImplementedError("your solution")').body[0]]
    return node


def student_code(source: str) -> str:
    """A solution cell's code reduced to its checker calls and the stubs they need."""
    try:
        tree = ast.parse(source)
    except SyntaxError:                    # IPython magics: keep only lines that call a checker
        lines = [ln for ln in source.splitlines() if "check_" in ln or ln.startswith("from book.exercises")]
        return "\n".join([TODO, *lines])
    checks = [n for n in tree.body if _is_check_call(n)]
    used = {n.id for c in checks for n in ast.walk(c) if isinstance(n, ast.Name)}
    kept: list[str] = []
    for node in tree.body:
        if _is_checker_import(node) or node in checks:
            kept.append(ast.get_source_segment(source, node))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name in used:
            kept.append(ast.unparse(_stub(node)))
    return "\n\n".join([TODO, *kept]) if kept else TODO


def student_markdown(text: str, inside: bool) -> tuple[str, bool]:
    """Remove the solution text from one Markdown cell; ``inside``: the cell starts inside a solution."""
    text = _SOLUTION_BLOCK.sub(ANSWER, text)
    out, pos = [], 0
    while True:
        if inside:
            end = _END.search(text, pos)
            if end is None:                # the whole rest of the cell is solution
                return "".join(out).strip("\n"), True
            pos, inside = end.end(), False
        start = _START.search(text, pos)
        if start is None:
            out.append(text[pos:])
            return "".join(out).strip("\n"), False
        out.append(text[pos:start.start()] + ANSWER + "\n")
        pos, inside = start.end(), True


def student_notebook(nb: dict) -> dict:
    """A copy of the notebook with the solutions replaced (see the module docstring)."""
    nb = copy.deepcopy(nb)
    inside = False
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            new, inside = student_markdown(source, inside)
            cell["source"] = new
        elif cell["cell_type"] == "code" and inside:
            cell["source"] = student_code(source)
            cell["outputs"], cell["execution_count"] = [], None
    nb["cells"] = [c for c in nb["cells"] if c["cell_type"] != "markdown" or "".join(c["source"]).strip()]
    return nb


def write(out: Path = OUT) -> list[Path]:
    """Write the student edition of every chapter into ``out``; return the files written."""
    written = []
    for path in notebooks():
        target = out / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        nb = json.loads(path.read_text(encoding="utf-8"))
        target.write_text(json.dumps(student_notebook(nb), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(target)
    return written


if __name__ == "__main__":
    dest = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else OUT
    files = write(dest)
    print(f"student edition: {len(files)} notebooks in {dest}")
