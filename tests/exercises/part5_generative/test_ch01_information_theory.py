"""The p5-1 exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import digamma

from book import information as info
from book.exercises.part5_generative import ch01_information_theory as ex


def _kl(p, q):
    on = p > 0
    with np.errstate(divide="ignore"):
        return float(np.sum(p[on] * (np.log(p[on]) - np.log(q[on]))))


def test_check_kl_accepts_a_correct_answer_and_rejects_slips(capsys):
    ex.check_kl(_kl)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="NaN|0 log 0"):
        ex.check_kl(lambda p, q: float(np.sum(p * np.log(p / q))))
    with pytest.raises(AssertionError, match="KL\\(q ‖ p\\)|inf"):
        ex.check_kl(lambda p, q: _kl(q, p))
    with pytest.raises(AssertionError, match="bits"):
        ex.check_kl(lambda p, q: _kl(p, q) / math.log(2))
    with pytest.raises(AssertionError, match="inf"):
        ex.check_kl(lambda p, q: _kl(p, np.clip(q, 1e-12, None)))


def test_check_moment_match_accepts_the_moments_and_rejects_slips(capsys):
    ex.check_moment_match(ex.moment_match_reference)
    assert "✓" in capsys.readouterr().out

    def within_only(w, m, s):
        w, m, s = (np.asarray(v, float) for v in (w, m, s))
        return float(np.sum(w * m)), float(np.sqrt(np.sum(w * s ** 2)))

    def variance(w, m, s):
        mu, sigma = ex.moment_match_reference(w, m, s)
        return mu, sigma ** 2

    with pytest.raises(AssertionError, match="total variance"):
        ex.check_moment_match(within_only)
    with pytest.raises(AssertionError, match="variance"):
        ex.check_moment_match(variance)


def _ksg_brute(x, y, k, strict=True, self_count=True):
    dx, dy = np.abs(x[:, None] - x[None, :]), np.abs(y[:, None] - y[None, :])
    d = np.maximum(dx, dy)
    np.fill_diagonal(d, np.inf)
    eps = np.sort(d, axis=1)[:, k - 1]
    cmp = np.less if strict else np.less_equal
    nx, ny = cmp(dx, eps[:, None]).sum(1) - 1, cmp(dy, eps[:, None]).sum(1) - 1
    return float(digamma(k) + digamma(len(x)) - np.mean(digamma(nx + 1) + digamma(ny + 1)))


def test_check_ksg_accepts_a_brute_force_answer_and_rejects_slips(capsys):
    ex.check_ksg(_ksg_brute)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="strictly"):
        ex.check_ksg(lambda x, y, k: _ksg_brute(x, y, k, strict=False))
    with pytest.raises(AssertionError, match="max-norm"):
        ex.check_ksg(lambda x, y, k: info.histogram_mutual_information(x, y, bins=8))
