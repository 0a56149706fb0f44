"""Exercise checkers for p6-6 (agents: schemas from type hints, a sandbox path check, tainted arguments).

The references are :func:`book.agents.tools.type_to_schema`, :meth:`book.agents.sandbox.Sandbox.resolve`
and :func:`tainted_fields_reference` below. Inputs are awkward on purpose: ``bool`` (a subclass of
``int`` in Python, a different type in JSON), nested lists, ``Optional`` of a list, ``..`` that stays
inside the root, a symbolic link that leads out, non-string arguments, values too short to mean anything.
"""

from __future__ import annotations

import os
import tempfile
import typing
from collections.abc import Callable
from pathlib import Path

from book.agents.sandbox import Sandbox, SandboxError
from book.agents.tools import type_to_schema
from book.exercises import passed


# ------------------------------------------------------------ ex-p6-6-1: JSON Schema from a type hint
def check_type_schema(fn: Callable[[object], dict]) -> None:
    """``fn(tp)`` -> the JSON Schema of one type hint, as :func:`book.agents.tools.type_to_schema` gives it."""
    cases = [int, float, str, bool, list[int], list[list[str]], typing.Literal["csv", "json"],
             typing.Optional[int], typing.Optional[list[str]]]                  # noqa: UP045 (the spelling tested)
    for tp in cases:
        want = type_to_schema(tp)
        got = fn(tp)
        if tp is bool and got == {"type": "integer"}:
            raise AssertionError("bool: got {'type': 'integer'}; bool is a subclass of int in Python, so test "
                                 "for bool before int (JSON's true is not an integer)")
        assert got == want, f"{tp!r}: got {got}, expected {want}"
    passed(f"JSON Schemas of {len(cases)} type hints, bool, nested lists and Optional included")


# ------------------------------------------------------------ ex-p6-6-2: a path confined to a root
def check_confine(fn: Callable[[Path, str], Path]) -> None:
    """``fn(root, path)`` -> the resolved path inside ``root``, or raises ValueError/PermissionError."""
    with tempfile.TemporaryDirectory() as d:
        outer = Path(d).resolve()
        root = outer / "box"
        (root / "docs").mkdir(parents=True)
        (root / "docs" / "a.txt").write_text("a")
        (outer / "secret.txt").write_text("s")
        os.symlink(outer / "secret.txt", root / "docs" / "link.txt")
        box = Sandbox(root)
        good = ["docs/a.txt", "docs/../docs/a.txt", "./docs/a.txt", "new/ünïcode.txt"]
        bad = ["../secret.txt", "docs/../../secret.txt", str(outer / "secret.txt"), "docs/link.txt", "/etc/passwd"]
        for p in good:
            try:
                got = Path(fn(root, p))
            except (ValueError, PermissionError) as e:
                raise AssertionError(f"{p!r} stays inside the root but was refused: {e}") from None
            assert got == box.resolve(p), f"{p!r}: got {got}, expected {box.resolve(p)}"
        for p in bad:
            try:
                got = fn(root, p)
            except (ValueError, PermissionError):
                continue
            hint = " (a symbolic link: resolve before you compare)" if "link" in p else ""
            raise AssertionError(f"{p!r} leaves the root but was accepted as {got}{hint}")
        try:
            box.resolve("docs/link.txt")
            raise AssertionError("reference sandbox accepted a link out")          # pragma: no cover
        except SandboxError:
            pass
    passed(f"{len(good)} paths inside the root resolved, {len(bad)} escapes refused (a symlink among them)")


# ------------------------------------------------------------ ex-p6-6-3: tainted arguments
def tainted_fields_reference(arguments: dict, task: str, observations: list[str], min_len: int = 4) -> list[str]:
    """Names of string arguments (at least ``min_len`` characters) that occur verbatim in some
    observation but not in the task: values the agent copied from data rather than from its user."""
    out = []
    for name, value in arguments.items():
        if isinstance(value, str) and len(value) >= min_len and value not in task \
                and any(value in o for o in observations):
            out.append(name)
    return sorted(out)


def check_tainted_fields(fn: Callable[[dict, str, list[str]], list[str]]) -> None:
    """``fn(arguments, task, observations)`` -> the sorted names of tainted string arguments."""
    obs = ['{"url": "//evil.test/c?d=1"} and see //docs.example.com/a', "widgets,120\nreport.txt"]
    cases = [
        ("a URL copied from a document", {"url": "//evil.test/c?d=1"}, "summarise the docs", obs),
        ("a path that the task itself names", {"path": "report.txt", "content": "Q3 total: 499.75"},
         "write the total to report.txt", obs),
        ("numbers are not strings", {"numbers": [120.0], "n": 3}, "add", obs),
        ("too short to mean anything", {"sep": ","}, "split", ["a,b"]),
        ("two tainted fields, sorted", {"to": "widgets,120", "body": "//docs.example.com/a"}, "mail", obs),
        ("no observations yet", {"url": "//evil.test/c?d=1"}, "go", []),
    ]
    for name, args, task, observations in cases:
        want = tainted_fields_reference(args, task, observations)
        got = fn(args, task, observations)
        if isinstance(got, (list, tuple)) and sorted(got) == want and list(got) != want:
            raise AssertionError(f"{name}: got {got}; return the names sorted")
        assert list(got) == want, f"{name}: got {got}, expected {want}"
    passed(f"tainted arguments found in {len(cases)} cases: copied, named by the task, non-strings, short values")
