"""The p4-7 exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import pytest
import torch

from book.exercises.part4_cookbook import ch07_vae as ex
from book.generative.vae import gaussian_kl


def test_gaussian_kl_accepts_the_closed_form_and_names_the_slip(capsys):
    ex.check_gaussian_kl(gaussian_kl)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="twice"):
        ex.check_gaussian_kl(lambda m, lv: 2 * gaussian_kl(m, lv))
    with pytest.raises(AssertionError, match="one KL per example"):
        ex.check_gaussian_kl(lambda m, lv: gaussian_kl(m, lv).sum())
    with pytest.raises(AssertionError, match="log σ²"):
        ex.check_gaussian_kl(lambda m, lv: gaussian_kl(m, 2 * lv))
    with pytest.raises(AssertionError, match="differs"):
        ex.check_gaussian_kl(lambda m, lv: 0.5 * (m.pow(2) + lv.exp() - lv).sum(1))


def test_reparameterize_accepts_mu_plus_sigma_eps_and_rejects_slips(capsys):
    ex.check_reparameterize(lambda mu, lv, eps: mu + torch.exp(0.5 * lv) * eps)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="σ²"):
        ex.check_reparameterize(lambda mu, lv, eps: mu + torch.exp(lv) * eps)
    with pytest.raises(AssertionError, match="no gradient"):
        ex.check_reparameterize(lambda mu, lv, eps: (mu + torch.exp(0.5 * lv) * eps).detach())
    with pytest.raises(AssertionError, match="only one"):
        ex.check_reparameterize(lambda mu, lv, eps: mu + torch.exp(0.5 * lv.detach()) * eps)
    with pytest.raises(AssertionError, match="differs"):
        ex.check_reparameterize(lambda mu, lv, eps: mu + eps)


def test_beta_loss_accepts_the_weighted_bound_and_names_the_slip(capsys):
    ex.check_beta_loss(lambda t, b: (-t.log_likelihood + b * t.kl).mean())
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="sign"):
        ex.check_beta_loss(lambda t, b: (t.log_likelihood - b * t.kl).mean())
    with pytest.raises(AssertionError, match="not the reconstruction"):
        ex.check_beta_loss(lambda t, b: (-b * t.log_likelihood + t.kl).mean())
    with pytest.raises(AssertionError, match="mean"):
        ex.check_beta_loss(lambda t, b: (-t.log_likelihood + b * t.kl).sum())
    with pytest.raises(AssertionError, match="scalar"):
        ex.check_beta_loss(lambda t, b: -t.log_likelihood + b * t.kl)
