"""Exercise checkers for p5-2 (variational autoencoders: the ELBO, probabilistic PCA, the IWAE bound).

The references are written out here from the chapter's equations. Inputs are
awkward on purpose: a q with exact zeros (0 log 0 = 0), a single latent value,
log-probabilities far below the range where ``exp`` underflows, one latent
dimension and all but one, and K = 1 importance samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from sklearn.decomposition import PCA

from book.exercises import passed


def discrete_elbo_reference(log_prior: np.ndarray, log_lik: np.ndarray, q: np.ndarray) -> float:
    """Σ_z q(z) [log p(z) + log p(x | z) − log q(z)], with terms where q(z) = 0 left out (0 log 0 = 0)."""
    log_prior, log_lik, q = (np.asarray(a, float) for a in (log_prior, log_lik, q))
    on = q > 0
    return float(np.sum(q[on] * (log_prior[on] + log_lik[on] - np.log(q[on]))))


def _elbo_cases():
    rng = np.random.default_rng(0)
    k = 50
    prior = rng.dirichlet(np.ones(k))
    log_lik = rng.normal(-800.0, 30.0, k)                   # exp underflows: work in logs
    return [
        ("three latent values", np.log([0.5, 0.3, 0.2]), np.array([-1.0, -2.0, -0.5]), np.array([0.2, 0.5, 0.3])),
        ("a q with exact zeros", np.log([0.25, 0.25, 0.5]), np.array([-3.0, -1.0, -2.0]), np.array([0.0, 1.0, 0.0])),
        ("one latent value", np.array([0.0]), np.array([-4.2]), np.array([1.0])),
        ("50 values, log p(x | z) near −800", np.log(prior), log_lik, rng.dirichlet(np.ones(k))),
    ]


def check_discrete_elbo(fn: Callable[[np.ndarray, np.ndarray, np.ndarray], float]) -> None:
    """``fn(log_prior, log_lik, q)`` -> the ELBO of one observation x for a discrete latent z, in nats."""
    for name, lp, ll, q in _elbo_cases():
        want = discrete_elbo_reference(lp, ll, q)
        with np.errstate(all="ignore"):
            got = float(fn(lp.copy(), ll.copy(), q.copy()))
        if math.isnan(got):
            raise AssertionError(f"{name}: got NaN; terms with q(z) = 0 contribute 0 (0 log 0 = 0): mask them")
        on = q > 0
        no_entropy = float(np.sum(q[on] * (lp[on] + ll[on])))
        if math.isclose(got, no_entropy, rel_tol=1e-9) and not math.isclose(want, no_entropy, rel_tol=1e-9):
            raise AssertionError(f"{name}: got E_q[log p(x, z)] = {got:.6g}; the ELBO also has the entropy of q, "
                                 "−Σ q log q")
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9), (
            f"{name}: ELBO = {got:.6g}, expected {want:.6g}: Σ_z q(z) [log p(z) + log p(x|z) − log q(z)]")
    passed("discrete ELBO correct, with zeros in q, one latent value and log-likelihoods near −800")


def ppca_log_likelihood_reference(x: np.ndarray, d: int) -> float:
    """Mean log-likelihood of ``x`` (n, D) under the maximum-likelihood probabilistic PCA with ``d`` dimensions."""
    x = np.asarray(x, float)
    n, dim = x.shape
    mean = x.mean(0)
    lam, vecs = np.linalg.eigh(np.cov(x.T, bias=True))
    lam, vecs = lam[::-1], vecs[:, ::-1]
    s2 = lam[d:].mean()
    w = vecs[:, :d] * np.sqrt(np.maximum(lam[:d] - s2, 0.0))
    cov = w @ w.T + s2 * np.eye(dim)
    sign, logdet = np.linalg.slogdet(cov)
    r = x - mean
    maha = np.einsum("ni,ij,nj->n", r, np.linalg.inv(cov), r)
    return float(np.mean(-0.5 * (dim * math.log(2 * math.pi) + logdet + maha)))


def check_ppca_log_likelihood(fn: Callable[[np.ndarray, int], float]) -> None:
    """``fn(x, d)`` -> mean log p(x) of the data (n, D) under Tipping and Bishop's maximum-likelihood solution."""
    rng = np.random.default_rng(1)
    z = rng.standard_normal((400, 3))
    x = z @ rng.standard_normal((3, 7)) + 0.3 * rng.standard_normal((400, 7)) + 5.0
    aniso = rng.standard_normal((300, 5)) * np.array([10.0, 3.0, 1.0, 0.1, 0.01])
    for name, data, d in (("7-d data from 3 factors, d = 3", x, 3), ("the same, d = 1", x, 1),
                          ("scales 10 to 0.01, d = 4 (all but one)", aniso, 4)):
        want = ppca_log_likelihood_reference(data, d)
        got = float(fn(data.copy(), d))
        unbiased = float(PCA(n_components=d, svd_solver="full").fit(data).score(data))
        if math.isclose(got, unbiased, rel_tol=1e-10) and not math.isclose(got, want, rel_tol=1e-10):
            raise AssertionError(f"{name}: got {got:.8g}, scikit-learn's value with the (n − 1) covariance; "
                                 "the maximum-likelihood solution uses 1/n")
        assert math.isclose(got, want, rel_tol=1e-7, abs_tol=1e-7), (
            f"{name}: mean log-likelihood {got:.8g}, expected {want:.8g}. Check σ² (the mean of the discarded "
            "eigenvalues), W = U_d (Λ_d − σ² I)^½ and the covariance W Wᵀ + σ² I")
    passed("probabilistic PCA log-likelihood correct for d = 1, 3 and D − 1, on badly scaled data")


def iwae_bound_reference(log_w: torch.Tensor) -> torch.Tensor:
    """log (1/K) Σ_k exp(log_w[k]) per column, stably: ``log_w`` is (K, N), the result (N,)."""
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


def check_iwae_bound(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """``fn(log_w)`` -> the importance-weighted bound (N,) from log-weights ``log_w`` of shape (K, N)."""
    g = torch.Generator().manual_seed(0)
    cases = [("K = 1", torch.randn(1, 5, generator=g, dtype=torch.float64)),
             ("K = 10", torch.randn(10, 4, generator=g, dtype=torch.float64)),
             ("K = 100, log-weights near −2000", -2000 + 5 * torch.randn(100, 3, generator=g, dtype=torch.float64)),
             ("K = 7, log-weights near +900", 900 + torch.randn(7, 2, generator=g, dtype=torch.float64))]
    for name, lw in cases:
        want = iwae_bound_reference(lw)
        got = torch.as_tensor(fn(lw.clone()), dtype=torch.float64)
        if got.shape != want.shape:
            raise AssertionError(f"{name}: expected shape {tuple(want.shape)} (one bound per column), "
                                 f"got {tuple(got.shape)}; reduce over dim 0, the K samples")
        if not torch.isfinite(got).all():
            raise AssertionError(f"{name}: got {got.tolist()}; exp over- or underflows here: use torch.logsumexp")
        if lw.shape[0] > 1 and torch.allclose(got, lw.mean(0)):
            raise AssertionError(f"{name}: got the mean of the log-weights, which is the ELBO; "
                                 "the bound is the log of the mean of the weights")
        if lw.shape[0] > 1 and torch.allclose(got, torch.logsumexp(lw, 0)):
            raise AssertionError(f"{name}: got log Σ_k w_k; divide by K (subtract log K)")
        assert torch.allclose(got, want, rtol=1e-10, atol=1e-9), (
            f"{name}: got {got.tolist()}, expected {want.tolist()}")
    passed("IWAE bound correct for K = 1 to 100, with log-weights near −2000 and +900")
