"""The p6-6 exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from book.agents.tools import type_to_schema
from book.exercises.part6_production import ch06_agents as ex


def _int_first(tp):
    if tp in (int, bool):          # the classic slip: bool treated as an integer
        return {"type": "integer"}
    return type_to_schema(tp)


def test_check_type_schema(capsys):
    ex.check_type_schema(type_to_schema)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="subclass of int"):
        ex.check_type_schema(_int_first)
    with pytest.raises(AssertionError, match="expected"):
        ex.check_type_schema(lambda tp: {"type": "array"} if typing.get_origin(tp) is list else type_to_schema(tp))


def _confine(root, path):
    real = (Path(root) / path).resolve()
    if Path(path).is_absolute() or not real.is_relative_to(Path(root).resolve()):
        raise ValueError(f"{path!r} leaves {root}")
    return real


def _confine_textual(root, path):          # checks the text, not the resolved path: a symlink gets out
    if Path(path).is_absolute() or ".." in Path(path).parts:
        raise ValueError(path)
    return Path(root).resolve() / path


def test_check_confine(capsys):
    ex.check_confine(_confine)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="inside the root but was refused"):
        ex.check_confine(_confine_textual)
    with pytest.raises(AssertionError, match="symbolic link"):
        ex.check_confine(lambda root, p: _confine_textual(root, p) if ".." not in p else _confine(root, p))
    with pytest.raises(AssertionError, match="leaves the root"):
        ex.check_confine(lambda root, p: (Path(root) / p).resolve())


def test_check_tainted_fields(capsys):
    ex.check_tainted_fields(ex.tainted_fields_reference)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="sorted"):
        ex.check_tainted_fields(lambda a, t, o: ex.tainted_fields_reference(a, t, o)[::-1])
    with pytest.raises(AssertionError, match="task itself names"):
        ex.check_tainted_fields(lambda a, t, o: sorted(k for k, v in a.items() if isinstance(v, str)
                                                        and len(v) >= 4 and any(v in x for x in o)))
