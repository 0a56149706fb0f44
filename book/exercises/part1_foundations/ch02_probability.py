"""Exercise checkers for p1-ch2 (probability and losses)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from book.checks import assert_close
from book.exercises import passed


def laplace_quantile_reference(u: np.ndarray, mu: float, b: float) -> np.ndarray:
    """Inverse CDF of Laplace(mu, b): mu + b·log(2u) below the median, mu − b·log(2 − 2u) above.

    Each branch takes the log of a number computed without cancellation, so the
    tails stay accurate for u within 1e-12 of 0 or 1.
    """
    u = np.asarray(u, dtype=np.float64)
    lower = u < 0.5
    return np.where(lower, mu + b * np.log(2.0 * np.where(lower, u, 0.25)),
                    mu - b * np.log(2.0 - 2.0 * np.where(lower, 0.75, u)))


def check_laplace_from_uniform(fn: Callable[[np.ndarray, float, float], np.ndarray]) -> None:
    """``fn(u, mu, b)`` must map uniforms in (0, 1) to Laplace(mu, b) samples by the inverse CDF."""
    rng = np.random.default_rng(11)
    cases = {
        "random u": (rng.uniform(size=1823), 0.0, 1.0),
        "shifted and scaled": (rng.uniform(size=781), -3.5, 0.2),
        "u near 0 and 1": (np.array([1e-12, 1e-6, 0.25, 0.75, 1 - 1e-6, 1 - 1e-9]), 2.0, 3.0),
        "u = 1/2 is the median": (np.array([0.5]), 1.25, 4.0),
        "one element": (np.array([0.9]), 0.0, 0.5),
    }
    for name, (u, mu, b) in cases.items():
        got = np.asarray(fn(u.copy(), mu, b), dtype=np.float64)
        assert got.shape == u.shape, f"{name}: output shape {got.shape}, expected {u.shape} (one sample per u)"
        assert np.isfinite(got).all(), f"{name}: inf or NaN in the output; check the log's argument on each branch"
        assert_close(got, laplace_quantile_reference(u, mu, b), rtol=1e-5, atol=1e-9,
                     name=f"{name} (mu={mu}, b={b})")
    u = np.sort(rng.uniform(size=200))
    assert np.all(np.diff(np.asarray(fn(u, 0.0, 1.0))) > 0), "an inverse CDF must be increasing in u"
    passed("Laplace inverse CDF matches the closed form on 5 cases, extreme u included")


def ridge_reference(Phi: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """argmin ‖Φθ − y‖² + λ‖θ‖², via an augmented least-squares problem (no normal equations)."""
    d = Phi.shape[1]
    A = np.vstack([Phi, np.sqrt(lam) * np.eye(d)])
    rhs = np.concatenate([y, np.zeros(d)])
    return np.linalg.lstsq(A, rhs, rcond=None)[0]


def check_ridge_fit(fn: Callable[[np.ndarray, np.ndarray, float], np.ndarray]) -> None:
    """``fn(Phi, y, lam)`` must return the ridge-regression coefficients (Φᵀ Φ + λI)⁻¹ Φᵀ y."""
    rng = np.random.default_rng(5)
    x = rng.uniform(0.0, 1.0, 30)
    cases = [
        ("polynomial design, degree 5", x[:, None] ** np.arange(6), 1e-3),
        ("more features than rows", rng.standard_normal((7, 12)), 0.5),
        ("tall random design", rng.standard_normal((1823, 9)), 10.0),
        ("one feature", rng.standard_normal((40, 1)), 2.0),
        ("huge penalty", rng.standard_normal((50, 4)), 1e8),
    ]
    for name, Phi, lam in cases:
        y = rng.standard_normal(Phi.shape[0])
        got = np.asarray(fn(Phi.copy(), y.copy(), lam), dtype=np.float64)
        assert got.shape == (Phi.shape[1],), f"{name}: expected {Phi.shape[1]} coefficients, got shape {got.shape}"
        assert_close(got, ridge_reference(Phi, y, lam), rtol=1e-6, atol=1e-10, name=f"{name} (λ={lam:g})")
    passed("ridge coefficients match the reference on 5 designs (wide, tall, one feature, huge λ)")


def check_kl_diag_gaussians(fn: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> None:
    """``fn(mu_p, logvar_p, mu_q, logvar_q)`` -> KL(p ‖ q) of diagonal Gaussians, summed over the last axis."""
    rng = np.random.default_rng(9)
    shapes = [(1, 1), (37, 5), (3, 781), (2, 3, 4), (6,)]
    for shape in shapes:
        mu_p, mu_q = rng.standard_normal(shape) * 3, rng.standard_normal(shape) * 3
        lv_p, lv_q = rng.uniform(-6, 4, shape), rng.uniform(-6, 4, shape)
        got = np.asarray(fn(mu_p, lv_p, mu_q, lv_q), dtype=np.float64)
        assert got.shape == shape[:-1], (
            f"for inputs of shape {shape} the result must have shape {shape[:-1]} (summed over the last axis), "
            f"got {got.shape}")
        p = torch.distributions.Normal(torch.tensor(mu_p), torch.tensor(np.exp(0.5 * lv_p)))
        q = torch.distributions.Normal(torch.tensor(mu_q), torch.tensor(np.exp(0.5 * lv_q)))
        want = torch.distributions.kl_divergence(p, q).sum(-1)
        assert_close(got, want, rtol=1e-9, atol=1e-10, name=f"KL for inputs of shape {shape}")
    same = rng.standard_normal((4, 3))
    assert_close(fn(same, same, same, same), np.zeros(4), atol=1e-12, name="KL(p ‖ p) must be 0")
    passed("diagonal-Gaussian KL = torch.distributions.kl_divergence on 5 shapes; KL(p‖p) = 0")
