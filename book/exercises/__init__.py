"""Checkers for the chapters' exercises, laid out like the notebooks.

``book/exercises/part1_foundations/ch06_attention.py`` holds the checkers of
``part1_foundations/ch06_attention.ipynb``, and its tests sit in
``tests/exercises/part1_foundations/test_ch06_attention.py`` (a test checks that
every notebook has both). A concept that two chapters exercise (attention with
a key-padding mask, say) is checked once, in :mod:`book.exercises.shared`, and
re-exported by each chapter's module, so it has one contract everywhere.

A checker calls the reader's function on several inputs, ugly ones included,
compares with a reference and either prints a one-line confirmation or raises
``AssertionError`` with a hint. Solutions in the book call the same checker,
so every checker is known to accept a correct answer; the package tests check
that each also rejects a wrong one.
"""

from __future__ import annotations

from collections.abc import Callable


def passed(what: str) -> None:
    """Print the confirmation every checker ends with."""
    print(f"✓ {what}")


def with_hint(check: Callable[[], object], hint: str) -> None:
    """Run ``check()``; if it fails, re-raise its message with ``hint`` appended."""
    try:
        check()
    except AssertionError as e:
        raise AssertionError(f"{e}. Hint: {hint}") from None
