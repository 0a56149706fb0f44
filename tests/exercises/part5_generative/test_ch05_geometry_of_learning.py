"""The p5-5 exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import pytest
import torch

from book.exercises.part5_generative import ch05_geometry_of_learning as ex


def _power(matvec, n, iters):
    v = torch.randn(n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    v = v / v.norm()
    for _ in range(iters):
        w = matvec(v)
        v = w / w.norm()
    return float(v @ matvec(v))


def _filter(weights, generator):
    out = []
    for w in weights:
        if w.dim() <= 1:
            out.append(torch.zeros_like(w))
            continue
        d = torch.randn(w.shape, generator=generator)
        rd, rw = d.reshape(w.shape[0], -1), w.reshape(w.shape[0], -1)
        out.append((rd * rw.norm(dim=1, keepdim=True) / (rd.norm(dim=1, keepdim=True) + 1e-10)).reshape(w.shape))
    return out


def _cka(X, Y):
    X, Y = X - X.mean(0), Y - Y.mean(0)
    return float((Y.T @ X).norm() ** 2 / ((X.T @ X).norm() * (Y.T @ Y).norm()))


def test_check_power_iteration(capsys):
    ex.check_power_iteration(_power)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="sign|Rayleigh"):
        ex.check_power_iteration(lambda mv, n, it: abs(_power(mv, n, it)))
    with pytest.raises(AssertionError, match="expected"):
        ex.check_power_iteration(lambda mv, n, it: _power(mv, n, 1))


def test_check_filter_normalized(capsys):
    ex.check_filter_normalized(_filter)
    assert "✓" in capsys.readouterr().out

    def per_layer(weights, generator):
        out = []
        for w in weights:
            d = torch.randn(w.shape, generator=generator)
            out.append(torch.zeros_like(w) if w.dim() <= 1 else d * w.norm() / (d.norm() + 1e-10))
        return out

    with pytest.raises(AssertionError, match="row|filter"):
        ex.check_filter_normalized(per_layer)
    with pytest.raises(AssertionError, match="zero"):
        ex.check_filter_normalized(lambda ws, g: [w.clone() if w.dim() <= 1 else d for w, d in zip(ws, _filter(ws, g))])


def test_check_cka(capsys):
    ex.check_cka(_cka)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="centre|expected"):
        ex.check_cka(lambda X, Y: float((Y.T @ X).norm() ** 2 / ((X.T @ X).norm() * (Y.T @ Y).norm())))
    with pytest.raises(AssertionError, match="expected"):
        ex.check_cka(lambda X, Y: _cka(X, Y) ** 0.5)
