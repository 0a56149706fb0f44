"""The p5-2 exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from book.exercises.part5_generative import ch02_vae as ex


def test_check_discrete_elbo_accepts_a_correct_answer_and_rejects_slips(capsys):
    ex.check_discrete_elbo(ex.discrete_elbo_reference)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="NaN|0 log 0"):
        ex.check_discrete_elbo(lambda lp, ll, q: float(np.sum(q * (lp + ll - np.log(q)))))
    with pytest.raises(AssertionError, match="entropy"):
        ex.check_discrete_elbo(lambda lp, ll, q: float(np.sum(q * (lp + ll))))
    with pytest.raises(AssertionError, match="expected"):
        ex.check_discrete_elbo(lambda lp, ll, q: float(np.log(np.sum(np.exp(lp + ll)))))


def test_check_ppca_log_likelihood_accepts_the_ml_solution_and_rejects_slips(capsys):
    ex.check_ppca_log_likelihood(ex.ppca_log_likelihood_reference)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="n − 1|1/n"):
        ex.check_ppca_log_likelihood(lambda x, d: float(PCA(n_components=d, svd_solver="full").fit(x).score(x)))

    def no_noise_subtracted(x, d):
        n, dim = x.shape
        lam, vecs = np.linalg.eigh(np.cov(x.T, bias=True))
        lam, vecs = lam[::-1], vecs[:, ::-1]
        s2 = lam[d:].mean()
        cov = (vecs[:, :d] * lam[:d]) @ vecs[:, :d].T + s2 * np.eye(dim)      # Λ_d instead of Λ_d − σ² I
        sign, logdet = np.linalg.slogdet(cov)
        r = x - x.mean(0)
        return float(np.mean(-0.5 * (dim * math.log(2 * math.pi) + logdet
                                     + np.einsum("ni,ij,nj->n", r, np.linalg.inv(cov), r))))

    with pytest.raises(AssertionError, match="expected"):
        ex.check_ppca_log_likelihood(no_noise_subtracted)


def test_check_iwae_bound_accepts_logsumexp_and_rejects_slips(capsys):
    ex.check_iwae_bound(ex.iwae_bound_reference)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="logsumexp|flow"):
        ex.check_iwae_bound(lambda lw: torch.log(torch.exp(lw).mean(0)))
    with pytest.raises(AssertionError, match="ELBO"):
        ex.check_iwae_bound(lambda lw: lw.mean(0))
    with pytest.raises(AssertionError, match="log K"):
        ex.check_iwae_bound(lambda lw: torch.logsumexp(lw, 0))
    with pytest.raises(AssertionError, match="shape"):
        ex.check_iwae_bound(lambda lw: torch.logsumexp(lw, 1) - math.log(lw.shape[1]))
