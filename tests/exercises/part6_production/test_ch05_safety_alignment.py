"""The p6-5 exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from book.exercises.part6_production import ch05_safety_alignment as ex


def test_check_dpo_loss(capsys):
    def good(pc, pr, rc, rr, beta):
        m = beta * ((pc - rc) - (pr - rr))
        return -F.logsigmoid(m).mean(), m
    ex.check_dpo_loss(good)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="sign"):
        ex.check_dpo_loss(lambda pc, pr, rc, rr, beta: good(pr, pc, rr, rc, beta))
    with pytest.raises(AssertionError, match="logsigmoid|expected"):
        ex.check_dpo_loss(lambda pc, pr, rc, rr, beta: (
            -torch.log(torch.sigmoid(beta * ((pc - rc) - (pr - rr)))).mean(), beta * ((pc - rc) - (pr - rr))))
    with pytest.raises(AssertionError, match="margins"):
        ex.check_dpo_loss(lambda pc, pr, rc, rr, beta: good(pc, pr, rc, rr, 1.0))     # ignores beta


def test_check_precision_recall(capsys):
    def good(y, p):
        y, p = np.asarray(y, bool), np.asarray(p, bool)
        tp = (y & p).sum()
        return (tp / p.sum() if p.sum() else 0.0), (tp / y.sum() if y.sum() else 0.0)
    ex.check_precision_recall(good)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="swapped"):
        ex.check_precision_recall(lambda y, p: good(y, p)[::-1])
    with pytest.raises((AssertionError, ZeroDivisionError, FloatingPointError)):
        with np.errstate(all="raise"):
            ex.check_precision_recall(lambda y, p: ((y & p).sum() / p.sum(), (y & p).sum() / y.sum()))


def test_check_optimal_policy(capsys):
    ex.check_optimal_policy(lambda p, r, beta: torch.softmax(torch.log(p) + r / beta, -1))
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="log space"):
        ex.check_optimal_policy(lambda p, r, beta: p * torch.exp(r / beta) / (p * torch.exp(r / beta)).sum())
    with pytest.raises(AssertionError, match="expected"):
        ex.check_optimal_policy(lambda p, r, beta: torch.softmax(torch.log(p) + r * beta, -1))
