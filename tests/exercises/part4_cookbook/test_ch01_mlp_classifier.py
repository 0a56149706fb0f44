"""The p4-1 exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import pytest
import torch

from book.exercises.part4_cookbook import ch01_mlp_classifier as ex


def _confusion(pred, target, n):
    return torch.bincount(n * target + pred, minlength=n * n).reshape(n, n)


def test_confusion_accepts_bincount_and_rejects_slips(capsys):
    ex.check_confusion(_confusion)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="transpose"):
        ex.check_confusion(lambda p, t, n: _confusion(p, t, n).T)
    with pytest.raises(AssertionError, match="minlength"):
        ex.check_confusion(lambda p, t, n: torch.bincount(n * t + p).reshape(-1, 1))
    with pytest.raises(AssertionError, match="differ"):
        ex.check_confusion(lambda p, t, n: _confusion(p, t, n) + torch.eye(n, dtype=torch.long))


def _params(n_features, hidden, n_classes):
    widths = (n_features, *hidden, n_classes)
    return sum((a + 1) * b for a, b in zip(widths, widths[1:]))


def test_mlp_parameters_accepts_closed_form_and_names_the_slip(capsys):
    ex.check_mlp_parameters(_params)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="bias"):
        ex.check_mlp_parameters(lambda f, h, c: sum(a * b for a, b in zip((f, *h), (*h, c))))
    with pytest.raises(AssertionError, match="buffers"):
        ex.check_mlp_parameters(lambda f, h, c: _params(f, h, c) + 2 * f)
    with pytest.raises(AssertionError, match=r"\(d_in \+ 1\)"):
        ex.check_mlp_parameters(lambda f, h, c: _params(f, h, c) + 1)
