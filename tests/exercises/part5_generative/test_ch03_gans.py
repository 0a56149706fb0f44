"""The p5-3 exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from book.exercises.part5_generative import ch03_gans as ex


def test_check_optimal_discriminator_accepts_the_logit_form_and_rejects_slips(capsys):
    ex.check_optimal_discriminator(lambda a, b: torch.sigmoid(a - b))
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="NaN|0/0"):
        ex.check_optimal_discriminator(lambda a, b: a.exp() / (a.exp() + b.exp()))
    with pytest.raises(AssertionError, match="real"):
        ex.check_optimal_discriminator(lambda a, b: torch.sigmoid(b - a))


def _jsd(p, q):
    m = (p + q) / 2
    return float(0.5 * np.sum(p[p > 0] * np.log(p[p > 0] / m[p > 0]))
                 + 0.5 * np.sum(q[q > 0] * np.log(q[q > 0] / m[q > 0])))


def test_check_jsd_accepts_a_correct_answer_and_rejects_slips(capsys):
    ex.check_jsd(_jsd)
    assert "✓" in capsys.readouterr().out
    assert math.isclose(ex.jsd_reference([1.0, 0.0], [0.0, 1.0]), math.log(2))
    with pytest.raises(AssertionError, match="finite|0 log 0"):
        ex.check_jsd(lambda p, q: float(0.5 * np.sum(p * np.log(2 * p / (p + q)) + q * np.log(2 * q / (p + q)))))
    with pytest.raises(AssertionError, match="twice"):
        ex.check_jsd(lambda p, q: 2 * _jsd(p, q))
    with pytest.raises(AssertionError, match="bits"):
        ex.check_jsd(lambda p, q: _jsd(p, q) / math.log(2))
    with pytest.raises(AssertionError, match="square root"):
        ex.check_jsd(lambda p, q: math.sqrt(_jsd(p, q)))


def test_check_r1_penalty_accepts_the_reference_and_rejects_slips(capsys):
    ex.check_r1_penalty(ex.r1_reference)
    assert "✓" in capsys.readouterr().out

    def no_graph(D, x):
        x = x.detach().requires_grad_(True)
        grad, = torch.autograd.grad(D(x).sum(), x)
        return grad.pow(2).sum(1).mean()

    def summed(D, x):
        x = x.detach().requires_grad_(True)
        grad, = torch.autograd.grad(D(x).sum(), x, create_graph=True)
        return grad.pow(2).sum()

    def norm(D, x):
        x = x.detach().requires_grad_(True)
        grad, = torch.autograd.grad(D(x).sum(), x, create_graph=True)
        return grad.norm(dim=1).mean()

    with pytest.raises(AssertionError, match="create_graph"):
        ex.check_r1_penalty(no_graph)
    with pytest.raises(AssertionError, match="sum"):
        ex.check_r1_penalty(summed)
    with pytest.raises(AssertionError, match="expected|square"):
        ex.check_r1_penalty(norm)
