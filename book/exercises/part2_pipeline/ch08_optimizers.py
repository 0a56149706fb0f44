"""Exercise checkers for p2-viii (optimizers).

* :func:`check_uncorrected_step`: the size of Adam's step without bias correction, Eq. (viii-uncorrected);
* :func:`check_heavy_ball_tuning`: Polyak's optimal learning rate and momentum for a quadratic,
  verified through the spectral radius of the iteration;
* :func:`check_amsgrad`: an AMSGrad class in lockstep with ``torch.optim.Adam(amsgrad=True)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from book.checks import assert_close
from book.exercises import passed


def uncorrected_step_reference(beta1: float, beta2: float, t: int) -> float:
    """Size of Adam's step ``t`` in units of the learning rate, without bias correction,
    for a constant gradient and ε = 0: (1 − β₁ᵗ) / √(1 − β₂ᵗ)."""
    return (1 - beta1**t) / math.sqrt(1 - beta2**t)


def check_uncorrected_step(fn: Callable[[float, float, int], float]) -> None:
    """``fn(beta1, beta2, t)`` must return the uncorrected Adam step ``t`` divided by η."""
    cases = [(0.9, 0.999, 1), (0.9, 0.99, 1), (0.9, 0.99, 10), (0.9, 0.95, 3),
             (0.0, 0.99, 1), (0.5, 0.5, 2), (0.9, 0.999, 20000), (0.99, 0.9999, 7)]
    for b1, b2, t in cases:
        got = float(fn(b1, b2, t))
        want = uncorrected_step_reference(b1, b2, t)
        assert abs(got - want) <= 1e-9 * abs(want), (
            f"for β₁={b1}, β₂={b2}, t={t} you returned {got:.6g}, expected {want:.6g}. "
            "Hint: unroll m_t and v_t for a constant gradient g: m_t = (1−β₁ᵗ)g and v_t = (1−β₂ᵗ)g²; "
            "the step is m_t/√v_t.")
    passed(f"uncorrected Adam step sizes on {len(cases)} cases")


def check_heavy_ball_tuning(fn: Callable[[float, float], tuple[float, float]]) -> None:
    """``fn(lam_min, lam_max)`` must return Polyak's optimal ``(lr, momentum)`` for a quadratic.

    Besides the closed form, the checker verifies the property that makes it optimal:
    the iteration matrix of θ_t = θ_{t−1} − η g_t + μ(θ_{t−1} − θ_{t−2}) has spectral
    radius (√κ − 1)/(√κ + 1) for both extreme eigenvalues.
    """
    for lam_min, lam_max in [(1.0, 100.0), (0.01, 1.0), (2.0, 2.0), (3.0, 1e4), (0.5, 50.0)]:
        got = fn(lam_min, lam_max)
        assert len(got) == 2, "return a pair (lr, momentum)"
        lr, mu = float(got[0]), float(got[1])
        s_min, s_max = math.sqrt(lam_min), math.sqrt(lam_max)
        want_lr, want_mu = 4 / (s_max + s_min) ** 2, ((s_max - s_min) / (s_max + s_min)) ** 2
        assert abs(lr - want_lr) <= 1e-9 * want_lr, (
            f"for λ in [{lam_min}, {lam_max}] your learning rate is {lr:.6g}, expected {want_lr:.6g}. "
            "Hint: η* = 4/(√λ_max + √λ_min)².")
        assert abs(mu - want_mu) <= 1e-9 + 1e-9 * want_mu, (
            f"for λ in [{lam_min}, {lam_max}] your momentum is {mu:.6g}, expected {want_mu:.6g}. "
            "Hint: μ* = ((√κ − 1)/(√κ + 1))² with κ = λ_max/λ_min.")
        rate = (s_max - s_min) / (s_max + s_min)
        for lam in (lam_min, lam_max):
            # (θ_t, θ_{t−1}) ← [[1 + μ − ηλ, −μ], [1, 0]] (θ_{t−1}, θ_{t−2}) along one eigenvector
            radius = np.abs(np.linalg.eigvals(np.array([[1 + mu - lr * lam, -mu], [1.0, 0.0]]))).max()
            assert abs(radius - rate) <= 1e-6, f"spectral radius {radius:.6g} ≠ {rate:.6g} at λ = {lam}"
    passed("heavy-ball η* and μ* on 5 spectra; error shrinks by (√κ−1)/(√κ+1) per step")


def _amsgrad_cases():
    """(shapes, gradient schedule) pairs: awkward shapes, zeros, shrinking and growing gradients."""
    shapes = [(7, 3), (1,), (), (5, 1, 2), (0,)]

    def grads(step: int, gen: torch.Generator) -> list[torch.Tensor]:
        scale = 10.0 ** (2 - step / 10) if step < 40 else 10.0 ** (-2 + (step - 40) / 5)
        out = []
        for s in shapes:
            g = scale * torch.randn(s, generator=gen, dtype=torch.float64)
            if g.numel() > 1:
                g[(torch.arange(g.numel()) % 3 == 0).reshape(g.shape)] = 0.0   # exact zeros
            out.append(g)
        return out

    return shapes, grads


def check_amsgrad(cls) -> None:
    """``cls(params, lr, betas, eps, weight_decay)`` with ``step()`` reading ``.grad`` must
    equal ``torch.optim.Adam(amsgrad=True)`` over 60 steps."""
    shapes, grads = _amsgrad_cases()
    settings = [dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0),
                dict(lr=3e-3, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.05)]
    for kw in settings:
        gen = torch.Generator().manual_seed(0)
        ours = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
        ref = [p.clone().requires_grad_() for p in ours]
        mine = cls(ours, **kw)
        theirs = torch.optim.Adam(ref, amsgrad=True, **kw)
        gen = torch.Generator().manual_seed(1)
        for step in range(60):
            for a, b, g in zip(ours, ref, grads(step, gen)):
                a.grad, b.grad = g.clone(), g.clone()
            mine.step()
            theirs.step()
            for j, (a, b) in enumerate(zip(ours, ref)):
                assert a.shape == b.shape, f"tensor {j} changed shape to {tuple(a.shape)}"
                try:
                    assert_close(a, b.detach(), rtol=1e-9, atol=1e-12,
                                 name=f"{kw}, step {step + 1}, tensor {j} of shape {tuple(b.shape)}")
                except AssertionError as e:
                    raise AssertionError(
                        f"{e}\nHint: torch keeps the running maximum of the raw second moment v_t "
                        "(not of v̂_t) and divides that maximum by √(1 − β₂ᵗ); weight decay is L2, "
                        "added to the gradient; ε is added after the square root.") from None
    passed("AMSGrad = torch.optim.Adam(amsgrad=True) over 60 steps, 2 settings, 5 awkward shapes")
