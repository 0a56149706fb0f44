"""Exercise checkers for p1-ch1 (core machine learning)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from book.checks import assert_close
from book.exercises import passed


def _designs() -> list[np.ndarray]:
    rng = np.random.default_rng(123)
    x = rng.uniform(0.0, 3.0, 50)
    return [
        np.stack([x, np.ones_like(x)], axis=1),                      # a line with an intercept
        rng.standard_normal((200, 5)),                               # well conditioned
        rng.standard_normal((31, 4)) * np.array([1.0, 10.0, 0.1, 3.0]),  # badly scaled columns
        rng.standard_normal((7, 1)),                                 # one feature, few rows
    ]


def critical_lr_reference(X: np.ndarray) -> float:
    """Largest stable step for gradient descent on L(w) = mean((Xw - y)^2): 2 / λ_max(2XᵀX/n)."""
    n = X.shape[0]
    return float(2.0 / np.linalg.eigvalsh(2.0 / n * X.T @ X).max())


def check_critical_lr(fn: Callable[[np.ndarray], float]) -> None:
    """``fn(X)`` must return the critical learning rate for least squares on design ``X``."""
    for X in _designs():
        got = float(fn(X))
        want = critical_lr_reference(X)
        assert abs(got - want) <= 1e-8 * want, (
            f"for X of shape {X.shape} you returned {got:.6g}, expected {want:.6g}. "
            "Hint: the Hessian of the mean squared error is 2XᵀX/n; GD is stable while η·λ_max < 2.")
    passed("critical learning rate = 2/λ_max on 4 designs")


def check_logistic_grad(fn: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> None:
    """``fn(w, X, y)`` must return ∇_w of the mean binary cross-entropy of sigmoid(Xw)."""
    rng = np.random.default_rng(7)
    for n, d in [(50, 3), (1, 4), (257, 1), (64, 10)]:
        X = rng.standard_normal((n, d)) * 3.0
        y = rng.integers(0, 2, n).astype(np.float64)
        w = rng.standard_normal(d)
        wt = torch.tensor(w, requires_grad=True)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor(X) @ wt, torch.tensor(y))
        loss.backward()
        got = np.asarray(fn(w, X, y), dtype=np.float64)
        assert got.shape == (d,), f"gradient must have shape ({d},) like w, got {got.shape}"
        assert_close(got, wt.grad, rtol=1e-8, atol=1e-10, name=f"gradient for X of shape {(n, d)}")
    passed("logistic-regression gradient = autograd on 4 cases")


def check_log_softmax(fn: Callable[[np.ndarray], np.ndarray]) -> None:
    """``fn(z)`` must return the log-softmax of each row of ``z``, finite even for huge logits."""
    rng = np.random.default_rng(3)
    cases = {
        "random logits": rng.standard_normal((5, 7)),
        "huge logits (±1e4)": rng.choice([-1e4, 1e4], size=(4, 3)) + rng.standard_normal((4, 3)),
        "equal logits": np.full((2, 6), 123.0),
        "one class": rng.standard_normal((3, 1)),
        "one row": rng.standard_normal((1, 1000)) * 50,
    }
    for name, z in cases.items():
        got = np.asarray(fn(z.copy()), dtype=np.float64)
        assert np.isfinite(got).all(), f"{name}: the result has inf or NaN; subtract the row maximum first"
        assert_close(got, torch.log_softmax(torch.tensor(z), dim=1), rtol=1e-10, atol=1e-9, name=name)
    passed("log_softmax = torch.log_softmax on 5 cases, extreme logits included")
