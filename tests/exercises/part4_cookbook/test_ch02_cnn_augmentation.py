"""The p4-2 exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from book.exercises.part4_cookbook import ch02_cnn_augmentation as ex


def _translate(images, dx, dy):
    h, w = images.shape[-2:]
    padded = F.pad(images, (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0)))
    return padded[..., max(-dy, 0):max(-dy, 0) + h, max(-dx, 0):max(-dx, 0) + w]


def test_translate_accepts_pad_and_slice_and_names_slips(capsys):
    ex.check_translate(_translate)
    ex.check_translate(ex.translate_reference)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="wrong way"):
        ex.check_translate(lambda x, dx, dy: _translate(x, -dx, -dy))
    with pytest.raises(AssertionError, match="swapped the axes"):
        ex.check_translate(lambda x, dx, dy: _translate(x, dy, dx))
    with pytest.raises(AssertionError, match="differs"):
        ex.check_translate(lambda x, dx, dy: torch.roll(x, (dy, dx), dims=(-2, -1)))


def test_batchnorm_state_accepts_counts_and_names_the_counter(capsys):
    ex.check_batchnorm_state(lambda c: (2 * c, 2 * c + 1))
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="num_batches_tracked"):
        ex.check_batchnorm_state(lambda c: (2 * c, 2 * c))
    with pytest.raises(AssertionError, match="scale"):
        ex.check_batchnorm_state(lambda c: (c, 2 * c + 1))
