"""book.landscape: Hessian-vector products and power iteration against the full Hessian, CKA invariances, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from book import landscape as ls


def _problem(seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).double()
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(37, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (37,), generator=g)
    return model, ls.loss_function(model, nn.functional.cross_entropy, X, y)


def test_loss_function_matches_the_module():
    model, f = _problem()
    theta = ls.flat_parameters(model)
    assert theta.shape == (sum(p.numel() for p in model.parameters()),)
    X = torch.randn(4, 5, dtype=torch.float64)
    g = ls.loss_function(model, lambda out, _: out.sum(), X, torch.zeros(4))
    assert torch.allclose(g(theta), model(X).sum())
    with pytest.raises(ValueError, match="flat vector of 66 parameters"):
        f(theta[:-1])


def test_hvp_equals_the_full_hessian_times_v():
    model, f = _problem()
    theta = ls.flat_parameters(model)
    H = torch.autograd.functional.hessian(f, theta)
    for seed in range(3):
        v = torch.randn(theta.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        assert torch.allclose(ls.hvp(f, theta, v), H @ v, atol=1e-10)


def test_power_iteration_matches_eigvalsh():
    model, f = _problem(1)
    theta = ls.flat_parameters(model)
    ev = torch.linalg.eigvalsh(torch.autograd.functional.hessian(f, theta))
    want = float(ev[ev.abs().argmax()])
    lam, v, used = ls.top_hessian_eigenvalue(f, theta, iters=2000, tol=1e-12,
                                             generator=torch.Generator().manual_seed(0))
    assert abs(lam - want) < 1e-6 * abs(want) and used <= 2000
    assert abs(float(v.norm()) - 1) < 1e-12
    again = ls.top_hessian_eigenvalue(f, theta, iters=2000, tol=1e-12, generator=torch.Generator().manual_seed(0))
    assert again[0] == lam                                     # deterministic given the generator


def test_power_iteration_and_hvp_reject_bad_arguments():
    model, f = _problem()
    theta = ls.flat_parameters(model)
    with pytest.raises(ValueError, match="iters must be a positive int"):
        ls.top_hessian_eigenvalue(f, theta, iters=0)
    with pytest.raises(ValueError, match="tol must be positive"):
        ls.top_hessian_eigenvalue(f, theta, tol=-1.0)
    with pytest.raises(ValueError, match="theta must be a 1-D tensor"):
        ls.top_hessian_eigenvalue(f, theta.view(6, 11))
    with pytest.raises(ValueError, match=r"v has shape \(3,\) but theta has shape \(66,\)"):
        ls.hvp(f, theta, torch.zeros(3, dtype=torch.float64))


def test_filter_normalized_direction():
    model, _ = _problem()
    d = ls.filter_normalized_direction(model, torch.Generator().manual_seed(0))
    assert d.shape == ls.flat_parameters(model).shape
    offset = 0
    for p in model.parameters():
        part = d[offset:offset + p.numel()].view(p.shape)
        offset += p.numel()
        if p.dim() == 1:
            assert (part == 0).all()
        else:
            assert torch.allclose(part.norm(dim=1), p.detach().norm(dim=1))
    assert torch.equal(d, ls.filter_normalized_direction(model, torch.Generator().manual_seed(0)))


def test_slices_shapes_and_values():
    f = lambda t: (t ** 2).sum()                               # noqa: E731
    theta, d1, d2 = torch.zeros(3), torch.tensor([1.0, 0, 0]), torch.tensor([0, 2.0, 0])
    assert ls.slice_1d(f, theta, d1, torch.linspace(-1, 1, 5)).shape == (5,)
    grid = ls.slice_2d(f, theta, d1, d2, [0.0, 1.0, 2.0], [0.0, 1.0])
    assert grid.shape == (2, 3) and grid[1, 2].item() == 8.0
    with pytest.raises(ValueError, match="d2 has shape"):
        ls.slice_2d(f, theta, d1, torch.zeros(4), [0.0], [0.0])


def test_paths_and_barrier():
    a, m, b = torch.zeros(2), torch.tensor([1.0, 2.0]), torch.ones(2)
    assert torch.equal(ls.bezier(a, m, b, 0.0), a) and torch.equal(ls.bezier(a, m, b, 1.0), b)
    assert torch.equal(ls.linear_path(a, b, 0.5), torch.full((2,), 0.5))
    assert ls.barrier([1.0, 0.5, 0.0]) == 0.0                  # a slope is no barrier
    assert ls.barrier([0.0, 0.0, 2.0, 0.0, 0.0], [0, 0.25, 0.5, 0.75, 1]) == 2.0
    with pytest.raises(ValueError, match="at least 2"):
        ls.barrier([1.0])
    with pytest.raises(ValueError, match="run from 0 to 1"):
        ls.barrier([1.0, 2.0], [0.0, 0.5])
    with pytest.raises(ValueError, match="theta_b has shape"):
        ls.linear_path(a, torch.ones(3), 0.5)


def _cka_hsic(X, Y):
    """The definition through Gram matrices: HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)), H the centring matrix."""
    n = X.shape[0]
    H = torch.eye(n, dtype=torch.float64) - 1.0 / n
    K, L = H @ X @ X.T @ H, H @ Y @ Y.T @ H
    return float((K * L).sum() / ((K * K).sum() * (L * L).sum()).sqrt())


def test_cka_against_gram_formula_and_invariances():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(301, 17, generator=g, dtype=torch.float64)
    Y = torch.tanh(X @ torch.randn(17, 9, generator=g, dtype=torch.float64)) + 0.3 * torch.randn(301, 9, generator=g,
                                                                                                 dtype=torch.float64)
    c = ls.linear_cka(X, Y)
    assert 0 < c < 1 and abs(c - _cka_hsic(X, Y)) < 1e-12
    Q, _ = torch.linalg.qr(torch.randn(17, 17, generator=g, dtype=torch.float64))
    assert abs(ls.linear_cka(X @ Q, Y) - c) < 1e-12            # orthogonal transform
    assert abs(ls.linear_cka(3.7 * X, 0.01 * Y) - c) < 1e-12   # isotropic scaling
    assert abs(ls.linear_cka(X + 5.0, Y) - c) < 1e-12          # a shift is removed by centring
    assert abs(ls.linear_cka(X, X) - 1) < 1e-12
    A = torch.diag(torch.linspace(0.1, 10, 17, dtype=torch.float64))
    assert abs(ls.linear_cka(X @ A, Y) - c) > 1e-3             # not invariant to anisotropic scaling
    assert abs(ls.linear_cka(X.float(), Y.float()) - c) < 1e-5


def test_cka_rejects_bad_inputs():
    X = torch.randn(10, 3)
    with pytest.raises(ValueError, match="same n >= 2 examples"):
        ls.linear_cka(X, torch.randn(9, 3))
    with pytest.raises(ValueError, match="X must be a 2-D tensor"):
        ls.linear_cka(torch.randn(10), X)
    with pytest.raises(ValueError, match="constant"):
        ls.linear_cka(torch.ones(10, 2), X)
