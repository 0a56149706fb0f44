"""The p6-2 exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import pytest

from book.exercises.part6_production import ch02_batching_paged_kv as ex


def test_check_paged_waste(capsys):
    ex.check_paged_waste(ex.paged_waste_reference)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="exactly|expected"):
        ex.check_paged_waste(lambda lens, b: (b - 1) / 2 * len(lens) / max(1, sum(lens)))
    with pytest.raises((AssertionError, ZeroDivisionError)):
        ex.check_paged_waste(lambda lens, b: 1 - sum(lens) / sum(-(-n // b) * b for n in lens))   # empty workload
    with pytest.raises(AssertionError, match="expected"):
        ex.check_paged_waste(lambda lens, b: sum(b - n % b for n in lens) / max(1, sum(lens)))


def _static(lens, s):
    return sum(max(lens[i:i + s]) for i in range(0, len(lens), s))


def test_check_continuous_steps(capsys):
    ex.check_continuous_steps(ex.continuous_steps_reference)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="static"):
        ex.check_continuous_steps(_static)
    with pytest.raises(AssertionError, match="expected"):
        ex.check_continuous_steps(lambda lens, s: -(-sum(lens) // s))       # perfect packing, no tail


def test_check_shared_blocks(capsys):
    ex.check_shared_blocks(ex.shared_blocks_reference)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="expected"):
        ex.check_shared_blocks(lambda ps, b: sum(-(-len(p) // b) for p in ps))             # no sharing at all

    def whole_blocks(prompts, b):       # shares the last block too, and matches blocks by content alone
        seen, n = set(), 0
        for p in prompts:
            for i in range(0, len(p), b):
                key = tuple(p[i:i + b])
                if key not in seen or len(key) < b:
                    seen.add(key)
                    n += 1
        return n
    with pytest.raises(AssertionError, match="expected"):
        ex.check_shared_blocks(whole_blocks)
