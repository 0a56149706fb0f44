"""The p4-9 exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import pytest
import torch

from book.exercises.part4_cookbook import ch09_ddpm as ex


def _alpha_bar(betas):
    return torch.cumprod(1 - betas, dim=0)


def test_alpha_bar_accepts_cumprod_and_names_the_slips(capsys):
    ex.check_alpha_bar(_alpha_bar)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="multiplied the betas"):
        ex.check_alpha_bar(lambda b: torch.cumprod(b, 0))
    with pytest.raises(AssertionError, match="shifted by one step"):
        ex.check_alpha_bar(lambda b: torch.cat([torch.ones(1, dtype=b.dtype), _alpha_bar(b)[:-1]]))
    with pytest.raises(AssertionError, match=r"expected a \(100,\) tensor"):
        ex.check_alpha_bar(lambda b: _alpha_bar(b)[None])
    with pytest.raises(AssertionError, match="differs"):
        ex.check_alpha_bar(lambda b: _alpha_bar(b) * 0.99)


def _q_sample(alpha_bars, x0, t, noise):
    ab = alpha_bars[t].to(x0.dtype)[:, None]
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def test_q_sample_accepts_the_closed_form_and_names_the_slips(capsys):
    ex.check_q_sample(_q_sample)
    assert "✓" in capsys.readouterr().out

    def swapped(alpha_bars, x0, t, noise):
        ab = alpha_bars[t].to(x0.dtype)[:, None]
        return (1 - ab).sqrt() * x0 + ab.sqrt() * noise

    def no_roots(alpha_bars, x0, t, noise):
        ab = alpha_bars[t].to(x0.dtype)[:, None]
        return ab * x0 + (1 - ab) * noise

    with pytest.raises(AssertionError, match="swapped"):
        ex.check_q_sample(swapped)
    with pytest.raises(AssertionError, match="square roots"):
        ex.check_q_sample(no_roots)
    with pytest.raises(AssertionError, match=r"\(N, 1\)"):
        ex.check_q_sample(lambda ab, x0, t, noise: ab[t].sqrt() * x0.sum(1))
    with pytest.raises(AssertionError, match="differs"):
        ex.check_q_sample(lambda ab, x0, t, noise: _q_sample(ab, x0, t, noise) + 0.01)


def _coefs(betas):
    ab = torch.cumprod(1 - betas, dim=0)
    prev = torch.cat([torch.ones(1, dtype=betas.dtype), ab[:-1]])
    return prev.sqrt() * betas / (1 - ab), (1 - betas).sqrt() * (1 - prev) / (1 - ab)


def test_posterior_coefficients_accept_the_formula_and_name_the_slips(capsys):
    ex.check_posterior_coefficients(_coefs)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="swapped"):
        ex.check_posterior_coefficients(lambda b: _coefs(b)[::-1])

    def wrong_first(b):
        c0, ct = _coefs(b)
        c0, ct = c0.clone(), ct.clone()
        c0[0], ct[0] = 0.5, 0.5
        return c0, ct

    with pytest.raises(AssertionError, match="first step"):
        ex.check_posterior_coefficients(wrong_first)
    with pytest.raises(AssertionError, match="a pair"):
        ex.check_posterior_coefficients(lambda b: _coefs(b)[0])
    with pytest.raises(AssertionError, match="differ"):
        ex.check_posterior_coefficients(lambda b: (_coefs(b)[0] * 1.1, _coefs(b)[1]))
