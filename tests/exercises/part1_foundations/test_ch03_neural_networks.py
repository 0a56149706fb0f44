"""The chapter 3 exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import erf

from book.exercises.part1_foundations import ch03_neural_networks as ex3


def _sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -x))


def _gelu(x):
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def _gelu_grad(x):
    return 0.5 * (1.0 + erf(x / math.sqrt(2.0))) + x * np.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)


def _central(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        up = f(x)
        x[i] = old - eps
        down = f(x)
        x[i] = old
        g[i] = (up - down) / (2 * eps)
    return g


def _residual(X, W1, b1, W2, b2, G, skip=True):
    Z = X @ W1 + b1
    GZ = (G @ W2.T) * _gelu_grad(Z)
    dX = GZ @ W1.T + (G if skip else 0.0)
    return dX, X.T @ GZ, GZ.sum(0), _gelu(Z).T @ G, G.sum(0)


def test_checkers_accept_correct_answers(capsys):
    ex3.check_silu(lambda x: x * _sigmoid(x),
                   lambda x: _sigmoid(x) * (1 + x * (1 - _sigmoid(x))))
    ex3.check_central_difference(_central)
    ex3.check_residual_backward(_residual)
    assert capsys.readouterr().out.count("✓") == 3


def test_silu_checker_rejects_overflow_and_wrong_derivative():
    with pytest.raises(AssertionError, match="overflow"):
        ex3.check_silu(lambda x: x / (1 + np.exp(-x)), lambda x: _sigmoid(x))
    with pytest.raises(AssertionError, match="silu_grad"):
        ex3.check_silu(lambda x: x * _sigmoid(x), lambda x: _sigmoid(x))  # forgot the product rule


def test_central_difference_checker_rejects_mistakes():
    def forward_difference(f, x, eps=1e-6):
        g = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            old = x[i]
            x[i] = old + eps
            up = f(x)
            x[i] = old
            g[i] = (up - f(x)) / eps
        return g

    def no_restore(f, x, eps=1e-6):
        g = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            x[i] += eps
            up = f(x)
            x[i] -= 2 * eps
            g[i] = (up - f(x)) / (2 * eps)
        return g

    with pytest.raises(AssertionError, match="one-sided"):
        ex3.check_central_difference(forward_difference)
    with pytest.raises(AssertionError, match="changed x"):
        ex3.check_central_difference(no_restore)


def test_residual_checker_rejects_missing_skip_and_bad_shapes():
    with pytest.raises(AssertionError, match="skip connection"):
        ex3.check_residual_backward(lambda *a: _residual(*a, skip=False))
    with pytest.raises(AssertionError, match="shape"):
        ex3.check_residual_backward(lambda *a: tuple(g.T for g in _residual(*a)))
