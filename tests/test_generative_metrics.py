"""book.generative.metrics: mode coverage, the MMD two-sample distance and the digit scorer."""

import numpy as np
import pytest
import torch
from sklearn.metrics.pairwise import rbf_kernel

from book.data import digits, toy2d
from book.generative import metrics


def test_mode_coverage_counts_samples_near_each_centre():
    centres = toy2d.mixture_centres(8, 2.0)
    x, k = toy2d.gaussian_mixture(800, modes=8, radius=2.0, std=0.05, seed=1)
    cov = metrics.mode_coverage(x, centres, radius=0.15)
    assert cov.covered == 8 and cov.high_quality > 0.98
    # A sample is counted for its own mode only (the modes lie far apart), unless it strays beyond 3σ.
    assert (cov.counts <= np.bincount(k, minlength=8)).all() and cov.counts.sum() >= 0.97 * len(x)
    collapsed = np.repeat(centres[:1], 50, axis=0)              # every sample on one mode
    one = metrics.mode_coverage(collapsed, centres, radius=0.15)
    assert one.covered == 1 and one.counts[0] == 50 and one.high_quality == 1.0
    far = metrics.mode_coverage(np.zeros((10, 2)), centres, radius=0.15)
    assert far.covered == 0 and far.high_quality == 0.0


def test_mmd_equals_the_unbiased_estimate_from_scikit_learns_kernel():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(37, 2)), rng.normal(0.5, 1.0, size=(23, 2))
    s = 0.8
    gamma = 1 / (2 * s * s)
    kxx, kyy, kxy = rbf_kernel(x, x, gamma=gamma), rbf_kernel(y, y, gamma=gamma), rbf_kernel(x, y, gamma=gamma)
    n, m = len(x), len(y)
    ref = ((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
           - 2 * kxy.mean())
    assert metrics.mmd_rbf(x, y, bandwidth=s) == pytest.approx(ref, abs=1e-12)


def test_mmd_separates_distributions():
    a = toy2d.swiss_roll(500, seed=0)
    b = toy2d.swiss_roll(500, seed=1)
    g = np.random.default_rng(0).multivariate_normal(a.mean(0), np.cov(a.T), 500)
    # The median heuristic (about 0.8 here) is wider than the roll's arms; a width near their spacing separates.
    same, diff = metrics.mmd_rbf(a, b, bandwidth=0.1), metrics.mmd_rbf(a, g, bandwidth=0.1)
    assert abs(same) < 0.002 and diff > 0.01
    assert metrics.mmd_rbf(a, g) > metrics.mmd_rbf(a, b)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((0, 2)), "non-empty"), (np.zeros(5), "non-empty"), (np.full((3, 2), np.nan), "NaN"),
])
def test_bad_points_are_named(bad, message):
    with pytest.raises(ValueError, match=message):
        metrics.mmd_rbf(bad, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="coordinates"):
        metrics.mode_coverage(np.zeros((3, 3)), np.zeros((2, 2)), radius=1.0)
    with pytest.raises(ValueError, match="radius"):
        metrics.mode_coverage(np.zeros((3, 2)), np.zeros((2, 2)), radius=0.0)


def test_digit_scorer_reads_real_test_digits():
    torch.set_num_threads(1)
    scorer = metrics.train_digit_scorer()
    split = digits.load()
    scores = metrics.score_digits(scorer, split.images_test)
    assert scores.accuracy(split.y_test) > 0.95
    assert scores.histogram.sum() == len(split.y_test) and (scores.histogram > 0).all()
    assert ((scores.confidence > 0.1) & (scores.confidence <= 1.0)).all()
    noisy = np.clip(split.X_test + 0.05 * np.random.default_rng(0).standard_normal(split.X_test.shape), 0, 1)
    assert metrics.score_digits(scorer, noisy).accuracy(split.y_test) > scores.accuracy(split.y_test) - 0.02
    with pytest.raises(ValueError, match=r"\(N, 8, 8\)"):
        metrics.score_digits(scorer, np.zeros((3, 7, 7)))
    with pytest.raises(ValueError, match="labels"):
        scores.accuracy([1, 2])
