"""book.information against SciPy, scikit-learn and torch.distributions, plus its edge cases and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.feature_selection import mutual_info_regression
from sklearn.metrics import mutual_info_score
from sklearn.preprocessing import scale

from book import information as info


def _random_pairs(rng, n, k):
    p = rng.dirichlet(np.full(k, 0.3), size=n)
    q = rng.dirichlet(np.full(k, 0.3), size=n)
    p[:, 0] = 0.0                                    # zeros in p: 0 log 0 = 0
    return p / p.sum(1, keepdims=True), q


def test_entropy_and_kl_match_scipy_in_nats():
    rng = np.random.default_rng(0)
    p, q = _random_pairs(rng, 50, 37)
    np.testing.assert_allclose(info.entropy(p), stats.entropy(p, axis=1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(info.kl_divergence(p, q), stats.entropy(p, q, axis=1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(info.cross_entropy(p, q), info.entropy(p) + info.kl_divergence(p, q), rtol=1e-12)


def test_torch_inputs_give_torch_outputs_with_gradients():
    logits = torch.randn(4, 9, dtype=torch.float64, requires_grad=True)
    q = torch.softmax(logits, -1)
    p = torch.softmax(torch.randn(4, 9, dtype=torch.float64), -1)
    kl = info.kl_divergence(p, q)
    assert isinstance(kl, torch.Tensor) and kl.shape == (4,)
    kl.sum().backward()
    torch.testing.assert_close(logits.grad, q.detach() - p)     # ∂KL/∂logits = q − p for a softmax
    torch.testing.assert_close(info.entropy(p), torch.distributions.Categorical(probs=p).entropy())


def test_edge_cases_zero_and_infinity():
    assert info.kl_divergence([1.0, 0.0], [1.0, 0.0]) == 0.0
    assert info.kl_divergence([0.5, 0.5], [1.0, 0.0]) == math.inf
    assert info.cross_entropy([0.0, 1.0], [0.0, 1.0]) == 0.0
    assert info.entropy([1.0]) == 0.0
    assert abs(info.entropy(np.full(1823, 1 / 1823)) - math.log(1823)) < 1e-10


@pytest.mark.parametrize("fn", [info.entropy, lambda p: info.kl_divergence(p, [0.25] * 4)])
def test_bad_p_is_named(fn):
    with pytest.raises(ValueError, match="p has a negative entry at index 3"):
        fn([0.5, 0.3, 0.3, -0.1])
    with pytest.raises(ValueError, match="p sums to 0.93, not 1"):
        fn([0.5, 0.2, 0.2, 0.03])


def test_bad_q_and_shapes_are_named():
    with pytest.raises(ValueError, match="q sums to 0.93, not 1"):
        info.cross_entropy([0.5, 0.5], [0.5, 0.43])
    with pytest.raises(ValueError, match=r"q has a negative entry at index \(1, 0\)"):
        info.kl_divergence(np.full((2, 2), 0.5), [[0.5, 0.5], [-0.5, 1.5]])
    with pytest.raises(ValueError, match="same number of outcomes"):
        info.kl_divergence([0.5, 0.5], [0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="NaN"):
        info.entropy([float("nan"), 1.0])
    with pytest.raises(ValueError, match="scalar"):
        info.entropy(1.0)


def test_gaussian_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu_p, mu_q = torch.randn(2, 7, 5, generator=g, dtype=torch.float64)
    s_p, s_q = (torch.rand(7, 5, generator=g, dtype=torch.float64) * 3 + 0.05 for _ in range(2))
    Normal = torch.distributions.Normal
    want = torch.distributions.kl_divergence(Normal(mu_p, s_p), Normal(mu_q, s_q))
    torch.testing.assert_close(info.gaussian_kl(mu_p, s_p, mu_q, s_q), want)
    diag = torch.distributions.Independent(torch.distributions.Normal(mu_p, s_p), 1)
    diag_q = torch.distributions.Independent(torch.distributions.Normal(mu_q, s_q), 1)
    torch.testing.assert_close(info.gaussian_kl(mu_p, s_p, mu_q, s_q, dim=-1),
                               torch.distributions.kl_divergence(diag, diag_q))
    np.testing.assert_allclose(info.gaussian_kl(mu_p.numpy(), s_p.numpy(), mu_q.numpy(), s_q.numpy()), want.numpy(),
                               rtol=1e-12)
    with pytest.raises(ValueError, match="sigma_q must be a positive"):
        info.gaussian_kl(0.0, 1.0, 0.0, -1.0)


def test_mutual_information_matches_sklearn_on_labels():
    rng = np.random.default_rng(1)
    joint = rng.dirichlet(np.ones(12)).reshape(3, 4)
    labels = rng.choice(12, size=5000, p=joint.ravel())
    a, b = labels // 4, labels % 4
    counts = np.zeros((3, 4))
    np.add.at(counts, (a, b), 1)
    assert abs(info.mutual_information(counts / counts.sum()) - mutual_info_score(a, b)) < 1e-12
    h = info.entropy(joint.sum(1)) + info.entropy(joint.sum(0)) - info.entropy(joint.ravel())
    assert abs(info.mutual_information(joint) - h) < 1e-12
    with pytest.raises(ValueError, match="joint sums to"):
        info.mutual_information(np.full((2, 2), 0.2))


def test_histogram_estimate_equals_mutual_info_score_on_the_bins():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(3000)
    y = 0.6 * x + 0.8 * rng.standard_normal(3000)
    edges_x, edges_y = np.histogram_bin_edges(x, 10), np.histogram_bin_edges(y, 10)
    lx, ly = np.clip(np.digitize(x, edges_x) - 1, 0, 9), np.clip(np.digitize(y, edges_y) - 1, 0, 9)
    assert abs(info.histogram_mutual_information(x, y, bins=10) - mutual_info_score(lx, ly)) < 1e-12


def test_ksg_matches_sklearn_and_the_gaussian_closed_form():
    rng = np.random.default_rng(3)
    rho, n = 0.8, 4000
    x = rng.standard_normal(n)
    y = rho * x + math.sqrt(1 - rho ** 2) * rng.standard_normal(n)
    xs, ys = scale(x[:, None], with_mean=False)[:, 0], scale(y[:, None], with_mean=False)[:, 0]
    ours = info.ksg_mutual_information(xs, ys, k=3)
    theirs = mutual_info_regression(x[:, None], y, n_neighbors=3, random_state=0)[0]
    assert abs(ours - theirs) < 1e-6
    assert abs(ours - (-0.5 * math.log(1 - rho ** 2))) < 0.05
    assert info.ksg_mutual_information(x, y, k=3) == info.ksg_mutual_information(x, y, k=3)   # deterministic
    with pytest.raises(ValueError, match="k must be between"):
        info.ksg_mutual_information(x[:3], y[:3], k=3)
    with pytest.raises(ValueError, match="equal length"):
        info.ksg_mutual_information(x, y[:-1])
