"""The chapter-2 exercise checkers accept correct answers and reject wrong ones."""

from __future__ import annotations

import numpy as np
import pytest

from book.exercises.part1_foundations import ch02_probability as ex2


def _laplace(u, mu, b):
    u = np.asarray(u, dtype=np.float64)
    lower = u < 0.5
    return np.where(lower, mu + b * np.log(2 * np.where(lower, u, 0.25)),
                    mu - b * np.log(2 - 2 * np.where(lower, 0.75, u)))


def _ridge(Phi, y, lam):
    return np.linalg.solve(Phi.T @ Phi + lam * np.eye(Phi.shape[1]), Phi.T @ y)


def _kl(mu_p, lv_p, mu_q, lv_q):
    return 0.5 * np.sum(lv_q - lv_p + (np.exp(lv_p) + (mu_p - mu_q) ** 2) / np.exp(lv_q) - 1.0, axis=-1)


def test_checkers_accept_correct_answers(capsys):
    ex2.check_laplace_from_uniform(_laplace)
    ex2.check_laplace_from_uniform(ex2.laplace_quantile_reference)
    ex2.check_laplace_from_uniform(lambda u, mu, b: mu - b * np.sign(u - 0.5) * np.log1p(-2 * np.abs(u - 0.5)))
    ex2.check_ridge_fit(_ridge)
    ex2.check_ridge_fit(ex2.ridge_reference)
    ex2.check_kl_diag_gaussians(_kl)
    assert capsys.readouterr().out.count("✓") == 6


def test_laplace_checker_rejects_wrong_answers():
    with pytest.raises(AssertionError):        # forgot the scale on one branch
        ex2.check_laplace_from_uniform(lambda u, mu, b: np.where(u < 0.5, mu + b * np.log(2 * u),
                                                                 mu - np.log(2 - 2 * u)))
    with pytest.raises(AssertionError):        # the exponential's inverse CDF, not the Laplace's
        ex2.check_laplace_from_uniform(lambda u, mu, b: mu - b * np.log1p(-u))
    with pytest.raises(AssertionError, match="shape"):
        ex2.check_laplace_from_uniform(lambda u, mu, b: _laplace(u, mu, b)[:1])


def test_ridge_checker_rejects_wrong_answers():
    with pytest.raises(AssertionError):        # ordinary least squares ignores λ
        ex2.check_ridge_fit(lambda Phi, y, lam: np.linalg.lstsq(Phi, y, rcond=None)[0])
    with pytest.raises(AssertionError):        # penalty of λ/2 instead of λ
        ex2.check_ridge_fit(lambda Phi, y, lam: _ridge(Phi, y, lam / 2))


def test_kl_checker_rejects_wrong_answers():
    with pytest.raises(AssertionError):        # the reverse direction KL(q‖p)
        ex2.check_kl_diag_gaussians(lambda mp, lp, mq, lq: _kl(mq, lq, mp, lp))
    with pytest.raises(AssertionError):        # treated log σ² as log σ
        ex2.check_kl_diag_gaussians(lambda mp, lp, mq, lq: _kl(mp, 2 * lp, mq, 2 * lq))
    with pytest.raises(AssertionError, match="shape"):   # forgot to sum over dimensions
        ex2.check_kl_diag_gaussians(lambda mp, lp, mq, lq: 0.5 * (lq - lp + (np.exp(lp) + (mp - mq) ** 2)
                                                                 / np.exp(lq) - 1.0))
