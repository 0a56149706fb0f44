"""Checkers for the chapters' exercises, one module per chapter.

A checker calls the reader's function on several inputs, ugly ones included,
compares with a reference and either prints a one-line confirmation or raises
``AssertionError`` with a hint. Solutions in the book call the same checker,
so every checker is known to accept a correct answer; the package tests check
that each also rejects a wrong one.
"""


def passed(what: str) -> None:
    """Print the confirmation every checker ends with."""
    print(f"✓ {what}")
