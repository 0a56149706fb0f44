"""The p2-viii exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import math

import pytest
import torch

from book.exercises.part2_pipeline import ch08_optimizers as ex8


def _uncorrected(b1, b2, t):
    return (1 - b1**t) / math.sqrt(1 - b2**t)


def _tuning(lam_min, lam_max):
    s_min, s_max = math.sqrt(lam_min), math.sqrt(lam_max)
    return 4 / (s_max + s_min) ** 2, ((s_max - s_min) / (s_max + s_min)) ** 2


class _AMSGrad:
    """A correct AMSGrad: the running maximum of the raw v, divided by √(1 − β₂ᵗ) afterwards."""

    max_of_v_hat = False   # the typical mistake, switched on by the subclass below

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.params = list(params)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.v_max = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    @torch.no_grad()
    def step(self):
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t
        for p, m, v, v_max in zip(self.params, self.m, self.v, self.v_max):
            g = p.grad + self.weight_decay * p
            m.mul_(b1).add_((1 - b1) * g)
            v.mul_(b2).add_((1 - b2) * g * g)
            if self.max_of_v_hat:
                torch.maximum(v_max, v / c2, out=v_max)
                denom = v_max.sqrt() + self.eps
            else:
                torch.maximum(v_max, v, out=v_max)
                denom = (v_max / c2).sqrt() + self.eps
            p -= self.lr * (m / c1) / denom


class _AMSGradOfVHat(_AMSGrad):
    max_of_v_hat = True


class _PlainAdam(_AMSGrad):
    """Forgets the maximum altogether: plain Adam."""

    @torch.no_grad()
    def step(self):
        for v_max in self.v_max:
            v_max.zero_()
        super().step()


def test_checkers_accept_correct_answers(capsys):
    ex8.check_uncorrected_step(_uncorrected)
    ex8.check_heavy_ball_tuning(_tuning)
    ex8.check_amsgrad(_AMSGrad)
    assert capsys.readouterr().out.count("✓") == 3


def test_uncorrected_step_checker_rejects_wrong_formulas():
    with pytest.raises(AssertionError, match="Hint"):
        ex8.check_uncorrected_step(lambda b1, b2, t: (1 - b1) / math.sqrt(1 - b2))   # first step only
    with pytest.raises(AssertionError, match="Hint"):
        ex8.check_uncorrected_step(lambda b1, b2, t: (1 - b1**t) / (1 - b2**t))     # forgot the root


def test_heavy_ball_checker_rejects_wrong_tuning():
    with pytest.raises(AssertionError, match="learning rate"):
        ex8.check_heavy_ball_tuning(lambda a, b: (2 / (a + b), _tuning(a, b)[1]))    # gradient descent's η
    with pytest.raises(AssertionError, match="momentum"):
        ex8.check_heavy_ball_tuning(
            lambda a, b: (_tuning(a, b)[0], (math.sqrt(b / a) - 1) / (math.sqrt(b / a) + 1)))  # not squared


def test_amsgrad_checker_rejects_max_of_v_hat_and_plain_adam():
    with pytest.raises(AssertionError, match="raw second moment"):
        ex8.check_amsgrad(_AMSGradOfVHat)
    with pytest.raises(AssertionError, match="raw second moment"):
        ex8.check_amsgrad(_PlainAdam)
