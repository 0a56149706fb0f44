"""Exercise checkers for p6-7 (reading papers: single seeds that mislead, a t interval, a sign-flip test).

The references are small closed forms written out here: the share of seeds
whose paired difference points against the mean, the Student-t interval of a
mean, and the exact two-sided sign-flip test by enumeration of all 2**n sign
patterns. Inputs are awkward on purpose: ties, exact zeros, a constant
sample, a single seed and lists where arrays are expected.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
from scipy import stats

from book.exercises import passed


# ------------------------------------------------------------ ex-p6-7-1: single seeds that mislead
def wrong_way_reference(a, b) -> float:
    """Fraction of seeds whose paired difference ``a - b`` has the opposite sign to the mean difference."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"a and b must hold the same seeds, got shapes {a.shape} and {b.shape}")
    d = a - b
    if d.mean() == 0:
        raise ValueError("the mean difference is zero: no direction to be wrong about")
    return float((d * np.sign(d.mean()) < 0).mean())


def check_wrong_way(fn: Callable) -> None:
    """``fn(a, b)`` -> the share of seeds that, taken alone, point against the mean difference."""
    cases = [
        ("every seed agrees", ([0.9, 0.8, 0.85], [0.7, 0.6, 0.8])),
        ("one of four against a positive mean", ([0.91, 0.90, 0.93, 0.88], [0.90, 0.89, 0.90, 0.89])),
        ("a negative mean, two of five against it", ([1.0, 2.0, 0.0, 3.0, 1.0], [2.0, 1.0, 3.0, 2.0, 0.5])),
        ("ties (zero differences) are not wrong", ([0.5, 0.5, 0.7, 0.2], [0.5, 0.5, 0.6, 0.25])),
    ]
    for name, (a, b) in cases:
        want = wrong_way_reference(a, b)
        got = float(fn(list(a), list(b)))
        d = np.asarray(a) - np.asarray(b)
        if math.isclose(got, float((d < 0).mean())) and not math.isclose(got, want):
            raise AssertionError(f"{name}: got {got:.3g}, the share of negative differences; compare with the "
                                 f"sign of the mean difference instead (expected {want:.3g})")
        if math.isclose(got, float((d * np.sign(d.mean()) <= 0).mean())) and not math.isclose(got, want):
            raise AssertionError(f"{name}: got {got:.3g}; a difference of exactly zero is a tie, not wrong "
                                 f"(expected {want:.3g})")
        assert math.isclose(got, want, abs_tol=1e-12), f"{name}: got {got:.3g}, expected {want:.3g}"
    for name, (a, b) in (("arrays of different lengths", ([1.0, 2.0, 3.0], [1.0, 2.0])),
                         ("a mean difference of zero", ([1.0, 2.0], [2.0, 1.0]))):
        try:
            fn(a, b)
        except ValueError:
            continue
        raise AssertionError(f"{name}: expected a ValueError, got a result")
    passed(f"wrong-way share on {len(cases)} cases, and ValueError for unequal lengths and a zero mean")


# ------------------------------------------------------------ ex-p6-7-2: a Student-t interval
def t_interval_reference(values, level: float = 0.95) -> tuple[float, float]:
    """``mean ± t_{n-1, (1+level)/2} · s / √n`` with ``s`` the sample standard deviation (ddof = 1)."""
    v = np.asarray(values, dtype=float)
    half = stats.t.ppf((1 + level) / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean() - half), float(v.mean() + half)


def check_t_interval(fn: Callable) -> None:
    """``fn(values, level)`` -> (low, high), the Student-t interval of the mean."""
    rng = np.random.default_rng(7)
    cases = [
        ("three values", ([0.2, 0.5, 0.4], 0.95)),
        ("ten seeds' differences", (list(rng.normal(0.003, 0.006, 10)), 0.95)),
        ("a 99 % level, 17 values", (list(rng.normal(1.0, 2.0, 17)), 0.99)),
        ("a constant sample (zero width)", ([0.25, 0.25, 0.25, 0.25], 0.95)),
    ]
    for name, (values, level) in cases:
        want = t_interval_reference(values, level)
        got = tuple(float(x) for x in fn(values, level))
        v = np.asarray(values)
        z_half = stats.norm.ppf((1 + level) / 2) * v.std(ddof=1) / math.sqrt(len(v))
        if want[1] > want[0] and math.isclose(got[1] - got[0], 2 * z_half, rel_tol=1e-6):
            raise AssertionError(f"{name}: got the normal (z) interval; use the t quantile with n - 1 degrees "
                                 "of freedom, scipy.stats.t.ppf((1 + level) / 2, n - 1)")
        if want[1] > want[0] and math.isclose(got[1] - got[0],
                                              (want[1] - want[0]) * v.std(ddof=0) / v.std(ddof=1), rel_tol=1e-6):
            raise AssertionError(f"{name}: the width uses the population standard deviation; use ddof = 1")
        assert all(math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-12) for g, w in zip(got, want)), (
            f"{name}: got ({got[0]:.6g}, {got[1]:.6g}), expected ({want[0]:.6g}, {want[1]:.6g})")
    passed(f"Student-t interval on {len(cases)} samples, including a constant one and a 99 % level")


# ------------------------------------------------------------ ex-p6-7-3: an exact sign-flip test
def sign_flip_p_reference(d) -> float:
    """Exact two-sided sign-flip p-value: the share of the 2**n sign patterns with |mean| >= |observed mean|."""
    d = np.asarray(d, dtype=float)
    if not 1 <= len(d) <= 16:
        raise ValueError(f"sign_flip_p enumerates 2**n patterns: need 1 <= n <= 16, got n = {len(d)}")
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(d))))     # (2**n, n)
    means = (signs * np.abs(d)).mean(1)
    return float((np.abs(means) >= abs(d.mean()) - 1e-12).mean())


def check_sign_flip_p(fn: Callable) -> None:
    """``fn(d)`` -> the exact two-sided sign-flip p-value of the paired differences ``d``."""
    cases = [
        ("ten positive differences", [0.1, 0.2, 0.15, 0.3, 0.12, 0.18, 0.22, 0.11, 0.17, 0.2]),
        ("mixed signs", [0.004, -0.002, 0.006, 0.0, 0.002, -0.004, 0.002]),
        ("ties in absolute value", [1.0, -1.0, 1.0, 1.0]),
        ("a single seed", [0.3]),
        ("all zeros", [0.0, 0.0, 0.0]),
        ("0.1 + 0.2 style rounding", [0.1, 0.2, -0.3, 0.3, 0.1]),
    ]
    for name, d in cases:
        want = sign_flip_p_reference(d)
        got = float(fn(list(d)))
        if math.isclose(got, want / 2, rel_tol=1e-9) and want < 1:
            raise AssertionError(f"{name}: got {got:.4g}, half the answer: the test is two-sided, count "
                                 f"patterns with |mean| >= |observed|")
        assert math.isclose(got, want, rel_tol=1e-9), f"{name}: got {got:.6g}, expected {want:.6g}"
    for bad in ([], [0.1] * 17):
        try:
            fn(bad)
        except ValueError:
            continue
        raise AssertionError(f"expected a ValueError for {len(bad)} differences")
    passed(f"exact sign-flip p-values on {len(cases)} cases, and ValueError for n = 0 and n = 17")
