"""The companion package declares everything the notebooks import.

On Colab the bootstrap cell installs only the package (with the extras it
names), so a library a notebook imports but ``pyproject.toml`` does not
declare would be an ``ImportError`` for every Colab reader. Checked
statically: every ``import`` in every notebook and in ``book/`` is either the
standard library, the book itself, or provided by a declared requirement or
one of its own requirements (read from the installed packages' metadata).
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import json
import re
import sys

import tomllib
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import nbtools

PYPROJECT = tomllib.loads((nbtools.ROOT / "pyproject.toml").read_text(encoding="utf-8"))
BOOTSTRAP_EXTRAS = re.search(r"llm-book\[([\w,]+)\]", nbtools.BOOTSTRAP)


def _declared() -> list[Requirement]:
    project = PYPROJECT["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in (BOOTSTRAP_EXTRAS.group(1).split(",") if BOOTSTRAP_EXTRAS else []):
        reqs += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return reqs


def _closure(reqs: list[Requirement]) -> set[str]:
    """Canonical names of the declared distributions and, recursively, of what they require."""
    env, seen, todo = default_environment(), set(), list(reqs)
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen or (req.marker and not req.marker.evaluate({**env, "extra": ""})):
            continue
        seen.add(name)
        try:
            todo += [Requirement(r) for r in (md.requires(req.name) or [])]
        except md.PackageNotFoundError:
            pass
    return seen


def _imports(source: str) -> set[str]:
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    tree = ast.parse("\n".join(lines))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _all_imports() -> dict[str, set[str]]:
    """Top-level module → the files importing it (notebook code cells and the package)."""
    found: dict[str, set[str]] = {}
    sources = []
    for nb_path in nbtools.notebooks():
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
        sources += [(nb_path.name, "".join(c["source"])) for c in nb["cells"] if c["cell_type"] == "code"]
    for py in (nbtools.ROOT / "book").rglob("*.py"):
        sources.append((str(py.relative_to(nbtools.ROOT)), py.read_text(encoding="utf-8")))
    for where, source in sources:
        for name in _imports(source):
            found.setdefault(name, set()).add(where)
    return found


def test_every_import_is_declared():
    provided = _closure(_declared())
    by_module = md.packages_distributions()
    missing = []
    for module, where in sorted(_all_imports().items()):
        if module in sys.stdlib_module_names or module in ("book", "__future__"):
            continue
        dists = {canonicalize_name(d) for d in by_module.get(module, [])}
        if not dists & provided:
            missing.append(f"{module} (distribution {sorted(dists) or 'unknown'}; imported by {sorted(where)[:3]})")
    assert not missing, "imported but not declared in pyproject.toml: " + "; ".join(missing)


def test_the_check_sees_the_imports():
    # guards against a vacuous pass: the scan finds the libraries the chapters are known to use
    found = _all_imports()
    assert {"torch", "numpy", "matplotlib", "triton"} <= set(found), sorted(found)


def test_requirements_txt_pins_what_pyproject_declares():
    # a reader's local install (requirements.txt) is never looser than the package's declared minimums
    pinned = {}
    for line in (nbtools.ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            pinned[canonicalize_name(req.name)] = req
    for req in _declared():
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} is declared in pyproject.toml but not in requirements.txt"
        installed = md.version(req.name)
        assert req.specifier.contains(installed, prereleases=True), (req, installed)
