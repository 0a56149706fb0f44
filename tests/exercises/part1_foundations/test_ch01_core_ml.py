"""The p1-ch1 exercise checkers accept correct answers and reject wrong ones."""

from __future__ import annotations

import numpy as np
import pytest

from book.exercises.part1_foundations import ch01_core_ml as ex1


def test_chapter1_checkers_accept_correct_answers(capsys):
    ex1.check_critical_lr(ex1.critical_lr_reference)
    ex1.check_logistic_grad(lambda w, X, y: X.T @ (1 / (1 + np.exp(-(X @ w))) - y) / len(y))
    ex1.check_log_softmax(lambda z: z - z.max(1, keepdims=True)
                          - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)))
    assert capsys.readouterr().out.count("✓") == 3


def test_chapter1_checkers_reject_wrong_answers():
    with pytest.raises(AssertionError, match="Hint"):
        ex1.check_critical_lr(lambda X: 1.0 / np.linalg.eigvalsh(X.T @ X).max())
    with pytest.raises(AssertionError):
        ex1.check_logistic_grad(lambda w, X, y: X.T @ (X @ w - y) / len(y))  # the least-squares gradient
    with pytest.raises(AssertionError, match="inf or NaN"), np.errstate(all="ignore"):
        ex1.check_log_softmax(lambda z: np.log(np.exp(z) / np.exp(z).sum(1, keepdims=True)))
