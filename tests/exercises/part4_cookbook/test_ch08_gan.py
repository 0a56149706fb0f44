"""The p4-8 exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from book.exercises.part4_cookbook import ch08_gan as ex


def _gradients(ell):
    d = torch.sigmoid(ell)
    return -d, d - 1


def test_loss_gradients_accepts_the_closed_form_and_names_the_slip(capsys):
    ex.check_loss_gradients(_gradients)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="swapped"):
        ex.check_loss_gradients(lambda ell: _gradients(ell)[::-1])
    with pytest.raises(AssertionError, match="sign"):
        ex.check_loss_gradients(lambda ell: (torch.sigmoid(ell), 1 - torch.sigmoid(ell)))
    with pytest.raises(AssertionError, match="pair"):
        ex.check_loss_gradients(lambda ell: -torch.sigmoid(ell))
    with pytest.raises(AssertionError, match="shape"):
        ex.check_loss_gradients(lambda ell: (-torch.sigmoid(ell).mean(), torch.sigmoid(ell).mean() - 1))
    with pytest.raises(AssertionError, match="log\\(1 − σ"):
        ex.check_loss_gradients(lambda ell: (-torch.sigmoid(ell) * (1 - torch.sigmoid(ell)), torch.sigmoid(ell) - 1))


def test_ns_generator_loss_accepts_softplus_and_names_the_slip(capsys):
    ex.check_ns_generator_loss(lambda ell: F.softplus(-ell).mean())
    assert "✓" in capsys.readouterr().out
    ex.check_ns_generator_loss(lambda ell: F.binary_cross_entropy_with_logits(ell, torch.ones_like(ell)))
    with pytest.raises(AssertionError, match="minimax"):
        ex.check_ns_generator_loss(lambda ell: -F.softplus(ell).mean())
    with pytest.raises(AssertionError, match="sum"):
        ex.check_ns_generator_loss(lambda ell: F.softplus(-ell).sum())
    with pytest.raises(AssertionError, match="softplus"):
        ex.check_ns_generator_loss(lambda ell: -torch.log(torch.sigmoid(ell)).mean())
    with pytest.raises(AssertionError, match="scalar"):
        ex.check_ns_generator_loss(lambda ell: F.softplus(-ell))


def _count(samples, centres, radius, min_count):
    d = np.linalg.norm(samples[:, None] - centres[None], axis=-1)
    near = d.min(1) <= radius
    return int((np.bincount(d.argmin(1)[near], minlength=len(centres)) >= min_count).sum())


def test_count_modes_accepts_nearest_assignment_and_names_the_slip(capsys):
    ex.check_count_modes(_count)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="nearest centre only"):
        ex.check_count_modes(lambda s, c, r, m: int(((np.linalg.norm(s[:, None] - c[None], axis=-1) <= r)
                                                     .sum(0) >= m).sum()))
    with pytest.raises(AssertionError, match="expected"):
        ex.check_count_modes(lambda s, c, r, m: _count(s, c, r, 1))
