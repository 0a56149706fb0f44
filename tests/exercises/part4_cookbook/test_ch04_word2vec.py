"""The p4-4 exercise checkers accept correct answers and reject typical mistakes, naming them."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from book.exercises.part4_cookbook import ch04_word2vec as ex
from book.nn.word2vec import keep_probabilities, noise_distribution


def _noise(counts, power):
    p = torch.where(counts > 0, counts.double() ** power, torch.zeros((), dtype=torch.float64))
    return p / p.sum()


def test_noise_distribution_accepts_package_and_names_the_slip(capsys):
    ex.check_noise_distribution(_noise)
    ex.check_noise_distribution(noise_distribution)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="unigram distribution"):
        ex.check_noise_distribution(lambda c, p: c.double() / c.sum())
    with pytest.raises(AssertionError, match="add up to 1"):
        ex.check_noise_distribution(lambda c, p: c.double() ** p)
    with pytest.raises(AssertionError, match="count of 0"):
        ex.check_noise_distribution(lambda c, p: (c.double() ** p) / (c.double() ** p) * _noise(c, p) / (c > 0))


def _keep(counts, t):
    f = counts.double() / counts.sum()
    return ((t / f).sqrt() + t / f).clamp(max=1.0)


def test_keep_probability_accepts_package_and_names_the_slip(capsys):
    ex.check_keep_probability(_keep)
    ex.check_keep_probability(keep_probabilities)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="paper's"):
        ex.check_keep_probability(lambda c, t: (t / (c.double() / c.sum())).sqrt().clamp(max=1.0))
    with pytest.raises(AssertionError, match="cannot exceed 1"):
        ex.check_keep_probability(lambda c, t: (t / (c.double() / c.sum())).sqrt() + t / (c.double() / c.sum()))
    with pytest.raises(AssertionError, match="raw count"):
        ex.check_keep_probability(lambda c, t: ((t / c.double()).sqrt() + t / c.double()).clamp(max=1.0))


def _parts(v, u_pos, u_neg):
    return (v * u_pos).sum(-1), (u_neg @ v.unsqueeze(-1)).squeeze(-1)


def test_sgns_loss_accepts_reference_and_names_the_slip(capsys):
    def good(v, u_pos, u_neg):
        x_pos, x_neg = _parts(v, u_pos, u_neg)
        return -(F.logsigmoid(x_pos) + F.logsigmoid(-x_neg).sum(-1)).mean()

    ex.check_sgns_loss(good)
    assert "✓" in capsys.readouterr().out

    def naive(v, u_pos, u_neg):
        x_pos, x_neg = _parts(v, u_pos, u_neg)
        return -(torch.log(torch.sigmoid(x_pos)) + torch.log(torch.sigmoid(-x_neg)).sum(-1)).mean()

    def sign(v, u_pos, u_neg):
        x_pos, x_neg = _parts(v, u_pos, u_neg)
        return -(F.logsigmoid(x_pos) + F.logsigmoid(x_neg).sum(-1)).mean()

    def mean_k(v, u_pos, u_neg):
        x_pos, x_neg = _parts(v, u_pos, u_neg)
        return -(F.logsigmoid(x_pos) + F.logsigmoid(-x_neg).mean(-1)).mean()

    def summed(v, u_pos, u_neg):
        x_pos, x_neg = _parts(v, u_pos, u_neg)
        return -(F.logsigmoid(x_pos) + F.logsigmoid(-x_neg).sum(-1)).sum()

    for wrong, hint in [(sign, "minus sign"), (mean_k, "sum over the K"), (summed, "mean over the batch"),
                        (naive, "logsigmoid")]:
        with pytest.raises(AssertionError, match=hint):
            ex.check_sgns_loss(wrong)
