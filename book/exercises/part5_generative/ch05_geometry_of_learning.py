"""Exercise checkers for p5-5 (geometry of learning: power iteration, filter normalisation, linear CKA).

The references are :mod:`book.landscape` and ``torch.linalg.eigvalsh``. Inputs
are awkward on purpose: a matrix whose dominant eigenvalue is negative, a
3 × 3 matrix with a small spectral gap, weight shapes with a single row and
with 4-D convolution filters, representations of 1823 examples with 781 and 3
features, and features on wildly different scales.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from book import landscape as ls
from book.exercises import passed


def _symmetric(n: int, seed: int, top: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    ev = torch.linspace(-1.0, 1.0, n, dtype=torch.float64)
    ev[-1] = top
    return (Q * ev) @ Q.T


def check_power_iteration(fn: Callable[[Callable[[torch.Tensor], torch.Tensor], int, int], float]) -> None:
    """``fn(matvec, n, iters)`` -> the eigenvalue of largest magnitude of a symmetric n × n matrix.

    ``matvec(v)`` returns ``A @ v`` for a float64 vector ``v`` of length ``n``; the
    matrix itself is never shown, as with a Hessian.
    """
    cases = [("a clear top eigenvalue (n = 300)", _symmetric(300, 0, 5.0)),
             ("the dominant eigenvalue is negative (n = 200)", _symmetric(200, 1, -4.0)),
             ("a 1 × 1 matrix", torch.tensor([[2.5]], dtype=torch.float64)),
             ("a small gap (n = 3)", torch.diag(torch.tensor([3.0, -1.0, 2.7], dtype=torch.float64)))]
    for name, A in cases:
        ev = torch.linalg.eigvalsh(A)
        want = float(ev[ev.abs().argmax()])
        got = float(fn(lambda v, A=A: A @ v, A.shape[0], 500))
        if abs(got - abs(want)) < 1e-3 * abs(want) and want < 0:
            raise AssertionError(f"{name}: got {got:.6g}, the magnitude of the answer {want:.6g}; the norm of Av "
                                 "loses the sign: return the Rayleigh quotient v·Av")
        assert abs(got - want) <= 1e-3 * abs(want), (
            f"{name}: got {got:.6g}, expected {want:.6g} (largest |λ| of eigvalsh); iterate v <- Av/|Av| "
            "from a random start and return v·Av")
    passed("power iteration finds the largest-magnitude eigenvalue, negative ones and small gaps included")


def check_filter_normalized(fn: Callable[[list[torch.Tensor], torch.Generator], list[torch.Tensor]]) -> None:
    """``fn(weights, generator)`` -> one random direction per weight tensor, filter-normalised as in Li et al. 2018.

    Every row (output unit) of a weight with 2 or more dimensions gets the norm of
    the same row of the weight; 1-D tensors (biases) get zeros.
    """
    g = torch.Generator().manual_seed(0)
    weights = [torch.randn(7, 5, generator=g), torch.randn(7, generator=g), torch.randn(1, 9, generator=g) * 30,
               torch.randn(4, 3, 2, 2, generator=g), torch.zeros(3, 2)]
    got = fn([w.clone() for w in weights], torch.Generator().manual_seed(1))
    assert len(got) == len(weights), f"expected {len(weights)} directions, one per weight, got {len(got)}"
    for i, (w, d) in enumerate(zip(weights, got)):
        assert d.shape == w.shape, f"direction {i} has shape {tuple(d.shape)}, its weight {tuple(w.shape)}"
        if w.dim() <= 1:
            assert (d == 0).all(), f"direction {i} (a 1-D tensor, shape {tuple(w.shape)}) must be zero"
            continue
        rw, rd = w.reshape(w.shape[0], -1).norm(dim=1), d.reshape(d.shape[0], -1).norm(dim=1)
        if torch.isnan(rd).any():
            raise AssertionError(f"direction {i}: NaN; a zero filter gives 0/0: add a small epsilon to the norm")
        if w.norm() > 0 and abs(d.norm() - w.norm()) < 1e-4 * w.norm() and not torch.allclose(rd, rw, rtol=1e-4):
            raise AssertionError(f"direction {i}: the whole tensor has the weight's norm, but its rows do not; "
                                 "normalise each filter (row), not the layer")
        assert torch.allclose(rd, rw, rtol=1e-4, atol=1e-6), (
            f"direction {i}: row norms {rd.tolist()[:3]}… should equal the weight's {rw.tolist()[:3]}…")
    d1 = fn([w.clone() for w in weights], torch.Generator().manual_seed(1))
    d2 = fn([w.clone() for w in weights], torch.Generator().manual_seed(2))
    assert all(torch.equal(a, b) for a, b in zip(got, d1)), (
        "use the generator: the same seed must give the same direction")
    assert not torch.allclose(d1[0], d2[0]), "different seeds gave the same direction: draw it from the generator"
    passed("filter-normalised directions: each row has its filter's norm, biases zero, "
           "4-D filters and a zero filter included")


def check_cka(fn: Callable[[torch.Tensor, torch.Tensor], float]) -> None:
    """``fn(X, Y)`` -> linear CKA of two (n, p) and (n, q) representations of the same examples."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(1823, 781, generator=g, dtype=torch.float64)
    Y3 = X[:, :3] @ torch.randn(3, 3, generator=g, dtype=torch.float64) + 0.5 * torch.randn(1823, 3, generator=g,
                                                                                         dtype=torch.float64)
    S = torch.randn(200, 6, generator=g, dtype=torch.float64) * torch.tensor([1e3, 1, 1, 1, 1e-3, 1],
                                                                           dtype=torch.float64) + 7.0
    T = torch.tanh(S[:, :4] / 100) + 0.1 * torch.randn(200, 4, generator=g, dtype=torch.float64)
    cases = [("1823 × 781 against 1823 × 3", X, Y3), ("a representation with itself", S, S),
             ("features on scales 1e-3..1e3, offset by 7", S, T)]
    for name, A, B in cases:
        want = ls.linear_cka(A, B)
        got = float(fn(A.clone(), B.clone()))
        uncentred = float((B.T @ A).norm() ** 2 / ((A.T @ A).norm() * (B.T @ B).norm()))
        if abs(got - uncentred) < 1e-9 and abs(got - want) > 1e-6:
            raise AssertionError(f"{name}: got {got:.6g}, the uncentred alignment; centre each feature first")
        assert abs(got - want) <= 1e-6, f"{name}: CKA = {got:.6g}, expected {want:.6g}"
    passed("linear CKA matches book.landscape.linear_cka on 1823 × 781 vs 1823 × 3 and on badly scaled features")
