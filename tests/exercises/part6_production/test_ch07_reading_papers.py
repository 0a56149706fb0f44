"""The p6-7 exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from book.exercises.part6_production import ch07_reading_papers as ex


def test_check_wrong_way(capsys):
    ex.check_wrong_way(ex.wrong_way_reference)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="sign of the mean"):
        ex.check_wrong_way(lambda a, b: float(((np.asarray(a) - np.asarray(b)) < 0).mean()))

    def ties_wrong(a, b):
        d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
        if len(a) != len(b) or d.mean() == 0:
            raise ValueError("bad")
        return float((d * np.sign(d.mean()) <= 0).mean())
    with pytest.raises(AssertionError, match="tie"):
        ex.check_wrong_way(ties_wrong)

    def no_checks(a, b):
        d = np.asarray(a[:len(b)], dtype=float) - np.asarray(b[:len(a)], dtype=float)
        return float((d * np.sign(d.mean()) < 0).mean())
    with pytest.raises(AssertionError, match="ValueError"):
        ex.check_wrong_way(no_checks)


def test_check_t_interval(capsys):
    ex.check_t_interval(ex.t_interval_reference)
    assert "✓" in capsys.readouterr().out

    def z_interval(values, level=0.95):
        v = np.asarray(values, dtype=float)
        half = stats.norm.ppf((1 + level) / 2) * v.std(ddof=1) / math.sqrt(len(v))
        return v.mean() - half, v.mean() + half
    with pytest.raises(AssertionError, match="t quantile"):
        ex.check_t_interval(z_interval)

    def ddof0(values, level=0.95):
        v = np.asarray(values, dtype=float)
        half = stats.t.ppf((1 + level) / 2, len(v) - 1) * v.std() / math.sqrt(len(v))
        return v.mean() - half, v.mean() + half
    with pytest.raises(AssertionError, match="ddof"):
        ex.check_t_interval(ddof0)


def test_check_sign_flip_p(capsys):
    ex.check_sign_flip_p(ex.sign_flip_p_reference)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="two-sided"):
        ex.check_sign_flip_p(lambda d: ex.sign_flip_p_reference(d) / 2)

    def strict(d):                  # > instead of >=: drops the observed pattern itself
        import itertools
        d = np.asarray(d, dtype=float)
        if not 1 <= len(d) <= 16:
            raise ValueError("n")
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(d))))
        return float((np.abs((signs * np.abs(d)).mean(1)) > abs(d.mean())).mean())
    with pytest.raises(AssertionError, match="expected"):
        ex.check_sign_flip_p(strict)
    with pytest.raises(AssertionError, match="ValueError"):      # right values, no input checks
        ex.check_sign_flip_p(lambda d: ex.sign_flip_p_reference(d) if 1 <= len(d) <= 16 else 1.0)
