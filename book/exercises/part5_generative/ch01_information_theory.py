"""Exercise checkers for p5-1 (information theory: KL divergence, moment matching, the KSG estimator).

The references are :mod:`book.information` and the moments of a Gaussian
mixture. Inputs are awkward on purpose: zeros in p (which contribute
nothing), zeros in q where p is positive (an infinite divergence), a vector of
1823 outcomes, a mixture with one component of weight 1, widely spread
components, k = 1 and a sample of 40 points.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from book import information as info
from book.exercises import passed


def _kl_cases():
    rng = np.random.default_rng(0)
    big_p, big_q = rng.dirichlet(np.full(1823, 0.5)), rng.dirichlet(np.full(1823, 0.5))
    return [
        ("p = q", [0.2, 0.3, 0.5], [0.2, 0.3, 0.5]),
        ("a zero in p", [1.0, 0.0], [0.5, 0.5]),
        ("a zero in q where p > 0", [0.5, 0.5], [1.0, 0.0]),
        ("zeros in both at the same place", [0.0, 0.4, 0.6], [0.0, 0.7, 0.3]),
        ("p = (0.9, 0.1), q uniform", [0.9, 0.1], [0.5, 0.5]),
        ("1823 outcomes", big_p, big_q),
    ]


def check_kl(fn: Callable[[np.ndarray, np.ndarray], float]) -> None:
    """``fn(p, q)`` -> KL(p ‖ q) in nats for 1-D probability vectors, with 0 log 0 = 0 and +inf where q = 0 < p."""
    for name, p, q in _kl_cases():
        p, q = np.asarray(p, float), np.asarray(q, float)
        want = float(info.kl_divergence(p, q))
        with np.errstate(all="ignore"):
            got = float(fn(p.copy(), q.copy()))
        if want == math.inf:
            assert got == math.inf, (f"{name}: expected +inf (q rules out an outcome p allows), got {got}; "
                                     "do not clip or smooth q")
            continue
        if math.isnan(got):
            raise AssertionError(f"{name}: got NaN; a term with p_k = 0 is 0 (0 log 0 = 0): mask it out before the log")
        if math.isclose(got, float(info.kl_divergence(q, p)), rel_tol=1e-9) and not math.isclose(got, want):
            raise AssertionError(f"{name}: got KL(q ‖ p) = {got:.6g}; the expectation is under p: Σ p log(p/q)")
        if math.isclose(got, want * math.log2(math.e), rel_tol=1e-9) and want > 0:
            raise AssertionError(f"{name}: got {got:.6g}, which is in bits; use natural logarithms (nats)")
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12), (
            f"{name}: KL = {got:.6g}, expected {want:.6g}: KL(p ‖ q) = Σ_k p_k log(p_k / q_k)")
    passed("KL divergence correct, with zeros in p, zeros in q (+inf) and 1823 outcomes")


def moment_match_reference(weights, means, stds) -> tuple[float, float]:
    """The mean and standard deviation of a mixture of univariate Gaussians: the minimiser of KL(p ‖ q)."""
    w, m, s = (np.asarray(v, float) for v in (weights, means, stds))
    mu = float(np.sum(w * m))
    return mu, math.sqrt(float(np.sum(w * (s ** 2 + m ** 2))) - mu ** 2)


def check_moment_match(fn: Callable[..., tuple[float, float]]) -> None:
    """``fn(weights, means, stds)`` -> ``(mu, sigma)`` of the forward-KL (moment-matched) Gaussian of a mixture."""
    cases = [((0.6, 0.4), (-2.0, 2.0), (0.6, 0.6)),
             ((0.5, 0.3, 0.2), (-3.0, 0.0, 4.0), (0.5, 1.0, 0.3)),
             ((1.0,), (7.5,), (0.01,)),                                  # one component: the fit is that component
             ((0.01, 0.99), (-100.0, 3.0), (5.0, 2.0))]                  # a far, light component still counts
    for w, m, s in cases:
        want = moment_match_reference(w, m, s)
        got = tuple(float(v) for v in fn(w, m, s))
        if len(got) != 2:
            raise AssertionError("return a pair (mu, sigma)")
        if math.isclose(got[1], want[1] ** 2, rel_tol=1e-9) and not math.isclose(want[1], 1.0):
            raise AssertionError(f"weights {w}: got sigma = {got[1]:.6g}, which is the variance; "
                                 "return its square root")
        narrow = math.sqrt(sum(wj * sj ** 2 for wj, sj in zip(w, s)))
        if math.isclose(got[1], narrow, rel_tol=1e-9) and not math.isclose(narrow, want[1]):
            raise AssertionError(f"weights {w}, means {m}: sigma = {got[1]:.6g} averages the component variances only; "
                                 "add the spread of the means (law of total variance)")
        ok = math.isclose(got[0], want[0], rel_tol=1e-9, abs_tol=1e-12) and math.isclose(got[1], want[1], rel_tol=1e-9)
        assert ok, (
            f"weights {w}, means {m}, stds {s}: got (mu, sigma) = ({got[0]:.6g}, {got[1]:.6g}), "
            f"expected ({want[0]:.6g}, {want[1]:.6g})")
    passed("moment matching correct for 1, 2 and 3 components, a far light component included")


def check_ksg(fn: Callable[[np.ndarray, np.ndarray, int], float]) -> None:
    """``fn(x, y, k)`` -> the KSG estimate of I(X; Y) in nats.

    Compared with :func:`book.information.ksg_mutual_information` (an estimate
    clipped at 0, as scikit-learn's, is accepted where the estimate is near 0).
    """
    rng = np.random.default_rng(5)
    cases = []
    x = rng.standard_normal(400)
    cases.append(("independent, n = 400, k = 3", x, rng.standard_normal(400), 3))
    cases.append(("ρ = 0.9, n = 400, k = 1", x, 0.9 * x + math.sqrt(0.19) * rng.standard_normal(400), 1))
    u = rng.uniform(-2, 2, 300)
    cases.append(("y = sin(3x) + noise, n = 300, k = 5", u, np.sin(3 * u) + 0.2 * rng.standard_normal(300), 5))
    t = rng.standard_normal(40)
    cases.append(("n = 40, k = 3, y on another scale", t, 100 * t + 50 * rng.standard_normal(40), 3))
    for name, xs, ys, k in cases:
        want = info.ksg_mutual_information(xs, ys, k=k)
        got = float(fn(xs.copy(), ys.copy(), k))
        if math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9):
            continue
        if want < 0 and abs(got) < 1e-12:                      # clipped at 0, as scikit-learn does
            continue
        raise AssertionError(
            f"{name}: got {got:.6g}, expected {want:.6g}. Check: max-norm distances in the joint space; the k-th "
            "neighbour excludes the point itself; n_x and n_y count other points strictly closer than ε_i")
    passed("KSG estimate matches book.information on independent, linear and nonlinear pairs, k = 1, 3, 5, n = 40")
