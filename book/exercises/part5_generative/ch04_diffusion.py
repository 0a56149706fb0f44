"""Exercise checkers for p5-4 (diffusion: the ELBO's weights, the general DDIM step, the exact denoiser of a mixture).

The references follow the equations of p5-4.3 (the ELBO's weights), p5-4.6 (the DDIM step) and p5-4.3's score
identity applied to a Gaussian mixture. Inputs are awkward on purpose: a chain of three steps,
an irregular schedule, the last DDIM step (ᾱ_prev = 1), η = 0, ½ and 1, a single mixture component,
components far apart, ᾱ close to 1 (responsibilities that underflow without a log-sum-exp) and close to 0,
and 1823 points in three dimensions.

    >>> import torch
    >>> check_elbo_weights(lambda b: elbo_weights_reference(b))
    ✓ ELBO weights λ_t correct on 4 schedules, a chain of 3 steps and an irregular one included
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from book.exercises import passed
from book.generative.ddpm import NoiseSchedule


def elbo_weights_reference(betas: torch.Tensor) -> torch.Tensor:
    """λ_t = ½ (SNR(t−1) / SNR(t) − 1) for the 0-based steps t = 1 … T−1, with SNR = ᾱ / (1 − ᾱ): (T − 1,)."""
    ab = torch.cumprod(1 - betas.double(), 0)
    snr = ab / (1 - ab)
    return 0.5 * (snr[:-1] / snr[1:] - 1)


def _schedules():
    return [("linear, T = 100", NoiseSchedule.linear(100).betas),
            ("cosine, T = 1000", NoiseSchedule.cosine(1000).betas),
            ("a chain of 3 steps", torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)),
            ("an irregular schedule", torch.sort(torch.rand(37, generator=torch.Generator().manual_seed(0),
                                                            dtype=torch.float64) * 0.3 + 0.01).values)]


def check_elbo_weights(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """``fn(betas (T,) float64)`` -> the ELBO weights λ_t of p5-4.3 for t = 1 … T−1, shape (T − 1,)."""
    for name, betas in _schedules():
        want = elbo_weights_reference(betas)
        got = torch.as_tensor(fn(betas.clone())).double()
        assert got.shape == want.shape, (f"{name}: shape {tuple(got.shape)}, expected {tuple(want.shape)} "
                                         "(one weight per step t = 1 … T−1; step 0 is the decoder term)")
        if torch.allclose(got, 2 * want, rtol=1e-6):
            raise AssertionError(f"{name}: twice the expected weights; the KL of two Gaussians has a factor ½")
        ab = torch.cumprod(1 - betas, 0)
        a = 1 - betas
        beta_variance = betas[1:] / (2 * a[1:] * (1 - ab[1:]))
        if torch.allclose(got, beta_variance, rtol=1e-6):
            raise AssertionError(f"{name}: these are the weights for σ_t² = β_t, or ᾱ_t used where ᾱ_(t−1) "
                                 "belongs: λ_t = β_t / (2 α_t (1 − ᾱ_(t−1)))")
        assert torch.allclose(got, want, rtol=1e-6, atol=0), (
            f"{name}: max relative error {((got - want) / want).abs().max().item():.3g}; "
            "λ_t = ½ (SNR(t−1)/SNR(t) − 1) with SNR = ᾱ/(1 − ᾱ)")
    passed("ELBO weights λ_t correct on 4 schedules, a chain of 3 steps and an irregular one included")


def ddim_step_reference(x_t, eps, ab_t: float, ab_prev: float, eta: float, noise):
    """The DDIM step of p5-4.6: √ᾱ' x̂_0 + √(1 − ᾱ' − σ²) ε + σ z with σ = η √((1 − ᾱ')/(1 − ᾱ)) √(1 − ᾱ/ᾱ')."""
    x0 = (x_t - math.sqrt(1 - ab_t) * eps) / math.sqrt(ab_t)
    sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab_t)) * math.sqrt(1 - ab_t / ab_prev)
    return math.sqrt(ab_prev) * x0 + math.sqrt(max(1 - ab_prev - sigma ** 2, 0.0)) * eps + sigma * noise


def check_ddim_step(fn: Callable) -> None:
    """``fn(x_t, eps, ab_t, ab_prev, eta, noise)`` -> x_(t') by the DDIM step of p5-4.6, for tensors of any shape."""
    g = torch.Generator().manual_seed(0)
    cases = [("η = 0, a middle step", (64, 2), 0.5, 0.7, 0.0),
             ("η = 1", (64, 2), 0.3, 0.45, 1.0),
             ("η = ½, a large stride", (64, 5), 0.02, 0.9, 0.5),
             ("the last step (ᾱ' = 1)", (10, 2), 0.95, 1.0, 1.0),
             ("1823 × 3 points", (1823, 3), 0.1, 0.2, 0.7)]
    for name, shape, ab_t, ab_prev, eta in cases:
        x_t, eps, z = (torch.randn(shape, generator=g, dtype=torch.float64) for _ in range(3))
        want = ddim_step_reference(x_t, eps, ab_t, ab_prev, eta, z)
        got = torch.as_tensor(fn(x_t.clone(), eps.clone(), ab_t, ab_prev, eta, z.clone())).double()
        assert got.shape == want.shape, f"{name}: shape {tuple(got.shape)}, expected {tuple(want.shape)}"
        if eta > 0 and ab_prev < 1:
            x0 = (x_t - math.sqrt(1 - ab_t) * eps) / math.sqrt(ab_t)
            sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab_t)) * math.sqrt(1 - ab_t / ab_prev)
            no_subtract = math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * eps + sigma * z
            if torch.allclose(got, no_subtract, atol=1e-9):
                raise AssertionError(f"{name}: the direction's coefficient must be √(1 − ᾱ' − σ²): the noise σz "
                                     "takes part of the variance")
        assert torch.allclose(got, want, atol=1e-9), (
            f"{name}: max error {(got - want).abs().max().item():.3g}; check σ = η √((1 − ᾱ')/(1 − ᾱ)) √(1 − ᾱ/ᾱ')")
    passed("DDIM step correct for η = 0, ½ and 1, the last step and 1823 × 3 points")


def mixture_eps_reference(x_t, alpha_bar: float, weights, means, stds) -> torch.Tensor:
    """E[ε | x_t] for data Σ_k w_k N(m_k, s_k² I): √(1 − ᾱ) Σ_k r_k(x) (x − √ᾱ m_k) / v_k, v_k = ᾱ s_k² + 1 − ᾱ."""
    v = alpha_bar * stds ** 2 + 1 - alpha_bar
    diff = x_t[:, None, :] - math.sqrt(alpha_bar) * means[None]
    logr = torch.log(weights) - 0.5 * x_t.shape[1] * torch.log(v) - 0.5 * (diff ** 2).sum(-1) / v
    r = torch.softmax(logr, dim=1)
    return math.sqrt(1 - alpha_bar) * (r[..., None] * diff / v[None, :, None]).sum(1)


def check_mixture_eps(fn: Callable) -> None:
    """``fn(x_t (N, D), alpha_bar, weights (K,), means (K, D), stds (K,))`` -> E[ε | x_t], (N, D), float64 tensors."""
    g = torch.Generator().manual_seed(1)
    f64 = dict(dtype=torch.float64)
    cases = [("one component", 0.5, [1.0], [[0.5, -1.0]], [0.7], 200, 2),
             ("two far-apart components", 0.6, [0.3, 0.7], [[-8.0, 0.0], [8.0, 0.0]], [0.5, 0.5], 200, 2),
             ("ᾱ close to 1, narrow components", 0.9999, [0.5, 0.5], [[-1.0, 0.0], [1.0, 0.0]], [0.01, 0.02], 200, 2),
             ("points far from narrow components, ᾱ close to 1", 0.9999, [0.5, 0.5], [[-1.0, 0.0], [1.0, 0.0]],
              [0.01, 0.02], -200, 2),
             ("ᾱ close to 0", 1e-4, [0.2, 0.8], [[-1.0, 0.0], [1.0, 0.0]], [0.3, 0.3], 200, 2),
             ("1823 points in 3-D, three components", 0.3, [0.2, 0.5, 0.3],
              [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, -2.0]], [0.2, 0.6, 1.0], 1823, 3)]
    for name, ab, w, m, s, n, d in cases:
        w, m, s = torch.tensor(w, **f64), torch.tensor(m, **f64), torch.tensor(s, **f64)
        far, n = n < 0, abs(n)                           # n < 0: points spread far beyond the data
        comp = torch.multinomial(w, n, replacement=True, generator=g)
        x0 = m[comp] + s[comp, None] * torch.randn(n, d, generator=g, **f64)
        x_t = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * torch.randn(n, d, generator=g, **f64)
        if far:
            x_t = 5 * torch.randn(n, d, generator=g, **f64)
        want = mixture_eps_reference(x_t, ab, w, m, s)
        got = torch.as_tensor(fn(x_t.clone(), ab, w.clone(), m.clone(), s.clone())).double()
        assert got.shape == want.shape, f"{name}: shape {tuple(got.shape)}, expected {tuple(want.shape)}"
        if not torch.isfinite(got).all():
            raise AssertionError(f"{name}: NaN or inf; compute the responsibilities from log-densities "
                                 "(a softmax / log-sum-exp), not as a ratio of densities that underflow")
        if torch.allclose(got, -want, atol=1e-8):
            raise AssertionError(f"{name}: the sign is flipped; E[ε | x_t] = −√(1 − ᾱ) ∇ log q_t points away "
                                 "from the data")
        assert torch.allclose(got, want, atol=1e-8, rtol=1e-6), (
            f"{name}: max error {(got - want).abs().max().item():.3g}; each component of q_t is "
            "N(√ᾱ m_k, (ᾱ s_k² + 1 − ᾱ) I), weighted by its responsibility r_k(x_t)")
    passed("mixture denoiser correct: one component, far-apart ones, ᾱ near 1 (points far away too) and near 0, "
           "1823 points in 3-D")
