"""Exercise checkers for p4-9 (the DDPM recipe).

References: :class:`book.generative.ddpm.NoiseSchedule` (its ``alpha_bars``, ``q_sample`` and posterior
mean coefficients). Inputs include linear and cosine schedules, a chain of two steps, float32 and
float64, a batch of one and a batch whose rows sit at different steps.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from book.exercises import passed
from book.generative.ddpm import NoiseSchedule


def _schedules() -> list[NoiseSchedule]:
    return [NoiseSchedule.linear(100), NoiseSchedule.cosine(50), NoiseSchedule.linear(1000, 1e-4, 0.02),
            NoiseSchedule(torch.tensor([0.9, 0.95], dtype=torch.float64))]       # two steps, large betas


def check_alpha_bar(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """``fn(betas)`` (T,) -> ᾱ (T,), ᾱ_t = Π_{s≤t} (1 − β_s)."""
    for s in _schedules():
        got = fn(s.betas.clone())
        want = s.alpha_bars
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != (s.T,):
            raise AssertionError(f"expected a ({s.T},) tensor, got {type(got).__name__} of shape "
                                 f"{tuple(getattr(got, 'shape', ()))}")
        got = got.double()
        if torch.allclose(got, want, rtol=1e-6):
            continue
        if torch.allclose(got, torch.cumprod(s.betas, 0), rtol=1e-6):
            raise AssertionError("you multiplied the betas; ᾱ is the product of α = 1 − β")
        if torch.allclose(got[1:], want[:-1], rtol=1e-6):
            raise AssertionError("your values are shifted by one step: ᾱ at index 0 is already 1 − β_0")
        raise AssertionError(f"alpha_bar differs for T={s.T}: expected {want[:3].tolist()}…, got {got[:3].tolist()}…")
    passed("alpha_bar equals NoiseSchedule's on 4 schedules, a two-step chain included")


def check_q_sample(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """``fn(alpha_bars, x0, t, noise)`` -> x_t = √ᾱ_t x0 + √(1 − ᾱ_t) noise, one step per row."""
    g = torch.Generator().manual_seed(0)
    cases = []
    for s, (n, d), dtype in zip(_schedules(), [(7, 2), (1, 64), (300, 3), (4, 1)],
                                [torch.float32, torch.float64, torch.float32, torch.float64]):
        t = torch.randint(0, s.T, (n,), generator=g)
        cases.append((s, torch.randn(n, d, generator=g, dtype=dtype), t, torch.randn(n, d, generator=g, dtype=dtype)))
    for s, x0, t, noise in cases:
        got = fn(s.alpha_bars.clone(), x0, t, noise)
        want = s.q_sample(x0, t, noise)
        if not isinstance(got, torch.Tensor) or got.shape != x0.shape:
            raise AssertionError(f"expected shape {tuple(x0.shape)}, got {tuple(getattr(got, 'shape', ()))}: "
                                 "alpha_bars[t] has shape (N,); make it (N, 1) to scale each row")
        tol = 1e-5 if x0.dtype == torch.float32 else 1e-10
        if torch.allclose(got.to(want.dtype), want, atol=tol):
            continue
        ab = s.alpha_bars[t].to(x0.dtype)[:, None]
        if torch.allclose(got.to(want.dtype), (1 - ab).sqrt() * x0 + ab.sqrt() * noise, atol=tol):
            raise AssertionError("x0 and the noise have swapped coefficients: x0 is scaled by √ᾱ_t")
        if torch.allclose(got.to(want.dtype), ab * x0 + (1 - ab) * noise, atol=tol):
            raise AssertionError("the coefficients need square roots: √ᾱ_t and √(1 − ᾱ_t)")
        raise AssertionError(f"x_t differs from the closed form for a batch of shape {tuple(x0.shape)} "
                             f"(max error {(got.to(want.dtype) - want).abs().max().item():.3g})")
    passed(f"q_sample equals the closed form on {len(cases)} batches (float32 and float64, a batch of one)")


def check_posterior_coefficients(fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]) -> None:
    """``fn(betas)`` -> (coef_x0, coef_xt), each (T,): μ̃_t = coef_x0[t] x_0 + coef_xt[t] x_t."""
    for s in _schedules():
        got = fn(s.betas.clone())
        if not isinstance(got, tuple) or len(got) != 2:
            raise AssertionError("return a pair (coefficient of x_0, coefficient of x_t)")
        c0, ct = (torch.as_tensor(c).double() for c in got)
        w0, wt = s.posterior_mean_coef_x0, s.posterior_mean_coef_xt
        if c0.shape != (s.T,) or ct.shape != (s.T,):
            raise AssertionError(f"each coefficient must have shape ({s.T},), "
                                 f"got {tuple(c0.shape)} and {tuple(ct.shape)}")
        if torch.allclose(c0, w0, rtol=1e-6, atol=1e-12) and torch.allclose(ct, wt, rtol=1e-6, atol=1e-12):
            continue
        if torch.allclose(c0, wt, rtol=1e-6) and torch.allclose(ct, w0, rtol=1e-6):
            raise AssertionError("the two coefficients are swapped: the first multiplies x_0")
        if torch.allclose(c0[1:], w0[1:], rtol=1e-6) and torch.allclose(ct[1:], wt[1:], rtol=1e-6):
            raise AssertionError("the first step is wrong: there ᾱ_{t-1} = 1, so x_0's coefficient is 1 and x_t's is 0")
        raise AssertionError(f"coefficients differ for T={s.T}: expected x_0's {w0[:3].tolist()}… and x_t's "
                             f"{wt[:3].tolist()}…, got {c0[:3].tolist()}… and {ct[:3].tolist()}…")
    passed("posterior mean coefficients equal NoiseSchedule's on 4 schedules, the first step included")
