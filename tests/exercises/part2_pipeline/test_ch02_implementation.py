"""The p2-ii exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import numpy as np
import pytest

from book.exercises.part2_pipeline import ch02_implementation as ex


class _Sigmoid:
    def forward(self, x):
        self.y = np.exp(-np.logaddexp(0.0, -x))
        return self.y

    def backward(self, g):
        return g * self.y * (1.0 - self.y)


class _NaiveSigmoid(_Sigmoid):
    def forward(self, x):
        self.y = 1.0 / (1.0 + np.exp(-x))    # overflows at x = -1000
        return self.y


class _WrongDerivative(_Sigmoid):
    def backward(self, g):
        return g * self.y                     # forgot the (1 − σ) factor


class _FirstInputOnly(_Sigmoid):
    def forward(self, x):
        y = np.exp(-np.logaddexp(0.0, -x))
        if not hasattr(self, "y"):
            self.y = y                        # caches only the first call
        return y


class _SGD:
    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, dampen=False):
        self.params, self.lr, self.momentum, self.wd, self.dampen = list(params), lr, momentum, weight_decay, dampen
        self.buffers = [None] * len(self.params)

    def zero_grad(self):
        for p in self.params:
            p.grad[...] = 0.0

    def step(self):
        for i, p in enumerate(self.params):
            g = p.grad + self.wd * p.data
            if self.momentum:
                if self.buffers[i] is None:
                    self.buffers[i] = g.copy()
                else:
                    scale = (1.0 - self.momentum) if self.dampen else 1.0
                    self.buffers[i] = self.momentum * self.buffers[i] + scale * g
                g = self.buffers[i]
            p.data -= self.lr * g


class _DecayAfterMomentum(_SGD):
    def step(self):
        for i, p in enumerate(self.params):
            g = p.grad
            if self.momentum:
                self.buffers[i] = g.copy() if self.buffers[i] is None else self.momentum * self.buffers[i] + g
                g = self.buffers[i]
            p.data -= self.lr * (g + self.wd * p.data)


class _NoneGrads(_SGD):
    def zero_grad(self):
        for p in self.params:
            p.grad = None


def test_checkers_accept_correct_answers(capsys):
    ex.check_sigmoid_layer(_Sigmoid)
    ex.check_sgd(_SGD)
    assert capsys.readouterr().out.count("✓") == 2


def test_sigmoid_checker_rejects_wrong_layers():
    with pytest.raises(AssertionError, match="overflow"):
        ex.check_sigmoid_layer(_NaiveSigmoid)
    with pytest.raises(AssertionError, match="Hint"):
        ex.check_sigmoid_layer(_WrongDerivative)
    with pytest.raises(AssertionError, match="second input"):
        ex.check_sigmoid_layer(_FirstInputOnly)


def test_sgd_checker_rejects_wrong_optimizers():
    with pytest.raises(AssertionError, match="Hint"):
        ex.check_sgd(lambda params, **kw: _SGD(params, dampen=True, **kw))
    with pytest.raises(AssertionError, match="Hint"):
        ex.check_sgd(_DecayAfterMomentum)
    with pytest.raises(AssertionError, match="zeros"):
        ex.check_sgd(_NoneGrads)
