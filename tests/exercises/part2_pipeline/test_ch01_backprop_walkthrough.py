"""The p2-i exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from book.exercises.part2_pipeline import ch01_backprop_walkthrough as ex


class _Value:
    """The smallest scalar autograd node the sigmoid checker needs (+, *, backward)."""

    def __init__(self, data, prev=()):
        self.data, self.grad, self._prev, self._backward = float(data), 0.0, tuple(prev), lambda: None

    def __add__(self, other):
        out = _Value(self.data + other.data, (self, other))

        def backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = backward
        return out

    def __mul__(self, other):
        out = _Value(self.data * other.data, (self, other))

        def backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = backward
        return out

    def backward(self):
        order, seen = [], set()

        def visit(v):
            if v not in seen:
                seen.add(v)
                for p in v._prev:
                    visit(p)
                order.append(v)
        visit(self)
        for v in order:
            v.grad = 0.0
        self.grad = 1.0
        for v in reversed(order):
            v._backward()


def _stable_sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _with_sigmoid(value, local_grad, overwrite=False):
    def sigmoid(self):
        out = _Value(value(self.data), (self,))

        def backward():
            g = local_grad(out.data, self.data) * out.grad
            if overwrite:
                self.grad = g
            else:
                self.grad += g
        out._backward = backward
        return out
    return type("V", (_Value,), {"sigmoid": sigmoid})


def _unbroadcast(grad, shape):
    grad = grad.sum(axis=tuple(range(grad.ndim - len(shape))))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=stretched, keepdims=True) if stretched else grad


def _matmul_vjp(a, b, g):
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    g2 = g.reshape(np.matmul(a2, b2).shape)
    a_bar = _unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
    b_bar = _unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
    return a_bar, b_bar


def _log_softmax_vjp(x, g):
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    p = z / z.sum(axis=-1, keepdims=True)
    return g - p * g.sum(axis=-1, keepdims=True)


def test_checkers_accept_correct_answers(capsys):
    ex.check_sigmoid(_with_sigmoid(_stable_sigmoid, lambda s, x: s * (1.0 - s)))
    ex.check_matmul_vjp(_matmul_vjp)
    ex.check_log_softmax_vjp(_log_softmax_vjp)
    assert capsys.readouterr().out.count("✓") == 3


def test_sigmoid_checker_rejects_overflow_wrong_derivative_and_overwrite():
    with pytest.raises(AssertionError, match="overflowed"):
        ex.check_sigmoid(_with_sigmoid(lambda x: 1.0 / (1.0 + math.exp(-x)), lambda s, x: s * (1.0 - s)))
    with pytest.raises(AssertionError, match="x.grad"):
        ex.check_sigmoid(_with_sigmoid(_stable_sigmoid, lambda s, x: s))
    with pytest.raises(AssertionError, match=r"\+="):
        ex.check_sigmoid(_with_sigmoid(_stable_sigmoid, lambda s, x: s * (1.0 - s), overwrite=True))


def test_matmul_checker_rejects_common_mistakes():
    def no_unbroadcast(a, b, g):
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g.reshape(np.matmul(a2, b2).shape)
        return g2 @ np.swapaxes(b2, -1, -2), np.swapaxes(a2, -1, -2) @ g2

    def two_d_only(a, b, g):
        return g @ b.T, a.T @ g

    def swapped(a, b, g):
        ga, gb = _matmul_vjp(a, b, g)
        return ga, gb * 1.5

    with pytest.raises((AssertionError, ValueError), match="shape|matmul|mismatch"):
        ex.check_matmul_vjp(two_d_only)
    with pytest.raises(AssertionError, match="shape"):
        ex.check_matmul_vjp(no_unbroadcast)
    with pytest.raises(AssertionError, match="b̄"):
        ex.check_matmul_vjp(swapped)


def test_log_softmax_vjp_checker_rejects_mistakes():
    def naive(x, g):
        p = np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True)
        return g - p * g.sum(axis=-1, keepdims=True)

    with pytest.raises(AssertionError, match="inf or NaN"):
        ex.check_log_softmax_vjp(naive)
    with pytest.raises(AssertionError, match="expected"):
        ex.check_log_softmax_vjp(lambda x, g: g)                                   # forgot the softmax term
    with pytest.raises(AssertionError, match="expected"):
        ex.check_log_softmax_vjp(lambda x, g: g - g.mean(axis=-1, keepdims=True))  # softmax taken as uniform
