"""The p5-4 exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import math

import pytest
import torch

from book.exercises.part5_generative import ch04_diffusion as ex


def _weights(betas):
    ab = torch.cumprod(1 - betas, 0)
    return betas[1:] / (2 * (1 - betas[1:]) * (1 - ab[:-1]))


def test_check_elbo_weights_accepts_a_correct_answer_and_rejects_slips(capsys):
    ex.check_elbo_weights(_weights)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="factor ½"):
        ex.check_elbo_weights(lambda b: 2 * _weights(b))
    with pytest.raises(AssertionError, match="σ_t² = β_t|ᾱ_\\(t−1\\)"):
        ex.check_elbo_weights(lambda b: b[1:] / (2 * (1 - b[1:]) * (1 - torch.cumprod(1 - b, 0)[1:])))
    with pytest.raises(AssertionError, match="shape"):
        ex.check_elbo_weights(lambda b: torch.cat([torch.zeros(1, dtype=b.dtype), _weights(b)]))


def _ddim(x_t, eps, ab_t, ab_prev, eta, noise):
    x0 = (x_t - math.sqrt(1 - ab_t) * eps) / math.sqrt(ab_t)
    sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev))
    return math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev - sigma**2) * eps + sigma * noise


def test_check_ddim_step_accepts_a_correct_answer_and_rejects_slips(capsys):
    ex.check_ddim_step(_ddim)
    assert "✓" in capsys.readouterr().out

    def no_subtract(x_t, eps, ab_t, ab_prev, eta, noise):
        x0 = (x_t - math.sqrt(1 - ab_t) * eps) / math.sqrt(ab_t)
        sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev))
        return math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * eps + sigma * noise

    with pytest.raises(AssertionError, match="σ²"):
        ex.check_ddim_step(no_subtract)

    def short_sigma(x_t, eps, ab_t, ab_prev, eta, noise):
        x0 = (x_t - math.sqrt(1 - ab_t) * eps) / math.sqrt(ab_t)
        sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab_t))
        return math.sqrt(ab_prev) * x0 + math.sqrt(max(1 - ab_prev - sigma**2, 0)) * eps + sigma * noise

    with pytest.raises(AssertionError, match="max error"):
        ex.check_ddim_step(short_sigma)


def test_check_mixture_eps_accepts_a_correct_answer_and_rejects_slips(capsys):
    ex.check_mixture_eps(ex.mixture_eps_reference)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="sign"):
        ex.check_mixture_eps(lambda *a: -ex.mixture_eps_reference(*a))

    def naive(x_t, ab, w, m, s):                       # densities as a ratio: they underflow when ᾱ → 1
        v = ab * s**2 + 1 - ab
        diff = x_t[:, None, :] - math.sqrt(ab) * m[None]
        dens = w * v ** (-x_t.shape[1] / 2) * torch.exp(-0.5 * (diff**2).sum(-1) / v)
        r = dens / dens.sum(1, keepdim=True)
        return math.sqrt(1 - ab) * (r[..., None] * diff / v[None, :, None]).sum(1)

    with pytest.raises(AssertionError, match="log-sum-exp|NaN"):
        ex.check_mixture_eps(naive)

    def no_responsibilities(x_t, ab, w, m, s):          # weights instead of responsibilities
        v = ab * s**2 + 1 - ab
        diff = x_t[:, None, :] - math.sqrt(ab) * m[None]
        return math.sqrt(1 - ab) * (w[None, :, None] * diff / v[None, :, None]).sum(1)

    with pytest.raises(AssertionError, match="responsibilit"):
        ex.check_mixture_eps(no_responsibilities)
