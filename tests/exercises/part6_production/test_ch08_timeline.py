"""The p6-8 exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from book.exercises.part6_production import ch08_timeline as ex


def test_check_milestones_per_part(capsys):
    ex.check_milestones_per_part(ex.milestones_per_part_reference)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="roman"):
        ex.check_milestones_per_part(lambda ms: dict(Counter(m["link"][1] for m in ms)))

    def lenient(ms):                     # counts anything, refuses nothing
        return dict(Counter(ex.ROMAN.get(m["link"][1:2], "?") for m in ms))
    with pytest.raises(AssertionError, match="ValueError"):
        ex.check_milestones_per_part(lenient)


def test_check_labels_in(capsys):
    ex.check_labels_in(ex.labels_in_reference)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="prose"):
        ex.check_labels_in(lambda t: set(re.findall(r"^\(([^)\s]+)\)=", t, re.M)))
    with pytest.raises(AssertionError, match="expected"):
        ex.check_labels_in(lambda t: set(re.findall(r"^\(([^)\s]+)\)=\s*$", t)))       # no re.M


def test_check_pack_rows(capsys):
    ex.check_pack_rows(ex.pack_rows_reference)
    assert "✓" in capsys.readouterr().out

    def always_wraps_first(widths, max_width, gap):
        placed, line, x = [], 0, 0.0
        for w in widths:
            if x + w > max_width:
                line, x = line + 1, 0.0
            placed.append((line, x))
            x += w + gap
        return placed
    with pytest.raises(AssertionError, match="first label"):
        ex.check_pack_rows(always_wraps_first)

    def strict_fit(widths, max_width, gap):           # >= instead of >: an exact fit wraps
        placed, line, x = [], 0, 0.0
        for w in widths:
            if x > 0 and x + w >= max_width - 1e-12:
                line, x = line + 1, 0.0
            placed.append((line, x))
            x += w + gap
        return placed
    with pytest.raises(AssertionError, match="expected line"):
        ex.check_pack_rows(strict_fit)
