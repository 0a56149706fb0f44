"""Exercise checkers for p5-3 (GANs: the optimal discriminator, the Jensen–Shannon divergence, the R1 penalty).

The references are the logit form σ(log p_data − log p_g) of the optimal
discriminator, :func:`book.information.kl_divergence` for the Jensen–Shannon
divergence, and autograd's input gradient of a
:class:`book.generative.gan.Discriminator` for the penalty. Inputs are awkward
on purpose: log densities of −1000 (whose exponentials underflow to 0) and
−inf, zeros in either probability vector, disjoint supports, 1823 outcomes,
64-pixel images and a batch of one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from book import information as info
from book.exercises import passed
from book.generative.gan import Discriminator, GANConfig


def d_star_reference(log_p_data: torch.Tensor, log_p_g: torch.Tensor) -> torch.Tensor:
    """D* = p_data / (p_data + p_g) from the log densities, in its logit form σ(log p_data − log p_g)."""
    return torch.sigmoid(log_p_data - log_p_g)


def check_optimal_discriminator(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """``fn(log_p_data, log_p_g)`` -> D* at the same points (any shape)."""
    g = torch.Generator().manual_seed(0)
    inf = math.inf
    cases = [
        ("equal densities", torch.full((5,), -1.3, dtype=torch.float64), torch.full((5,), -1.3, dtype=torch.float64)),
        ("random log densities (7, 3)", torch.randn(7, 3, generator=g, dtype=torch.float64) - 2,
         torch.randn(7, 3, generator=g, dtype=torch.float64) - 2),
        ("both underflow: log densities near −1000", torch.tensor([-1000.0, -1001.0, -1200.0], dtype=torch.float64),
         torch.tensor([-1001.0, -1000.0, -1190.0], dtype=torch.float64)),
        ("the generator has no mass (log p_g = −inf)", torch.tensor([-2.0, -50.0], dtype=torch.float64),
         torch.tensor([-inf, -inf], dtype=torch.float64)),
        ("the data have no mass (log p_data = −inf)", torch.tensor([-inf, -inf], dtype=torch.float64),
         torch.tensor([-3.0, -700.0], dtype=torch.float64)),
    ]
    for name, a, b in cases:
        want = d_star_reference(a, b)
        got = torch.as_tensor(fn(a.clone(), b.clone()), dtype=torch.float64)
        assert got.shape == want.shape, f"{name}: returned shape {tuple(got.shape)}, expected {tuple(want.shape)}"
        if torch.isnan(got).any():
            raise AssertionError(f"{name}: got NaN; exp(a) / (exp(a) + exp(b)) is 0/0 when both densities "
                                 "underflow: use σ(a − b), the logit form of Eq. (p5-3-dstar)")
        if torch.allclose(got, 1 - want, atol=1e-9) and not torch.allclose(got, want, atol=1e-9):
            raise AssertionError(f"{name}: got p_g / (p_data + p_g); D* is the probability of *real*, "
                                 "p_data / (p_data + p_g)")
        assert torch.allclose(got, want, atol=1e-9), (
            f"{name}: D* = {got.flatten()[:4].tolist()}, expected {want.flatten()[:4].tolist()}")
    passed("optimal discriminator correct, including underflowing and zero densities")


def jsd_reference(p, q) -> float:
    """Jensen–Shannon divergence in nats of two probability vectors: ½ KL(p‖m) + ½ KL(q‖m), m = (p + q)/2."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    m = (p + q) / 2
    return 0.5 * float(info.kl_divergence(p, m)) + 0.5 * float(info.kl_divergence(q, m))


def check_jsd(fn: Callable[[np.ndarray, np.ndarray], float]) -> None:
    """``fn(p, q)`` -> JSD(p ‖ q) in nats for 1-D probability vectors."""
    rng = np.random.default_rng(0)
    cases = [
        ("p = q", [0.2, 0.3, 0.5], [0.2, 0.3, 0.5]),
        ("disjoint supports", [0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.3, 0.7]),
        ("a zero in p", [0.0, 0.4, 0.6], [0.1, 0.2, 0.7]),
        ("a zero in q", [0.3, 0.3, 0.4], [0.5, 0.5, 0.0]),
        ("1823 outcomes", rng.dirichlet(np.full(1823, 0.5)), rng.dirichlet(np.full(1823, 0.5))),
    ]
    for name, p, q in cases:
        p, q = np.asarray(p, float), np.asarray(q, float)
        want = jsd_reference(p, q)
        with np.errstate(all="ignore"):
            got = float(fn(p.copy(), q.copy()))
        if math.isnan(got) or math.isinf(got):
            raise AssertionError(f"{name}: got {got}; the JSD is always finite (m > 0 wherever p or q is): "
                                 "skip the terms with p_k = 0 (or q_k = 0), 0 log 0 = 0")
        if math.isclose(got, 2 * want, rel_tol=1e-9) and want > 0:
            raise AssertionError(f"{name}: got {got:.6g}, twice the JSD; it is ½ KL(p‖m) + ½ KL(q‖m)")
        if math.isclose(got, want / math.log(2), rel_tol=1e-9) and want > 0:
            raise AssertionError(f"{name}: got {got:.6g}, which is in bits; use natural logarithms (nats)")
        if math.isclose(got, math.sqrt(want), rel_tol=1e-9) and 0 < want < 1:
            raise AssertionError(f"{name}: got {got:.6g}, the square root of the JSD (what scipy's "
                                 "jensenshannon returns); return the divergence itself")
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12), (
            f"{name}: JSD = {got:.6g}, expected {want:.6g}")
    passed("Jensen–Shannon divergence correct, with zeros, disjoint supports (log 2) and 1823 outcomes")


def r1_reference(D: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ‖∇_x D(x)‖², differentiable in D's parameters (Eq. (p5-3-r1) without γ/2)."""
    x = x.detach().requires_grad_(True)
    grad, = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return grad.pow(2).sum(1).mean()


def check_r1_penalty(fn: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor]) -> None:
    """``fn(D, x)`` -> a scalar tensor: the mean squared norm of the input gradient of D's logits."""
    g = torch.Generator().manual_seed(0)
    cases = [
        ("2-D points, batch 128", GANConfig(data_dim=2, d_hidden=(32, 32)), torch.randn(128, 2, generator=g)),
        ("64-pixel images, batch 17", GANConfig(data_dim=64, d_hidden=(48,)), torch.rand(17, 64, generator=g)),
        ("a batch of one", GANConfig(data_dim=3, d_hidden=(8, 8)), torch.randn(1, 3, generator=g)),
    ]
    for name, cfg, x in cases:
        torch.manual_seed(1)
        D = Discriminator(cfg)
        want = r1_reference(D, x)
        got = fn(D, x.clone())
        assert isinstance(got, torch.Tensor) and got.dim() == 0, (
            f"{name}: return a scalar tensor, got {type(got).__name__} {tuple(getattr(got, 'shape', ()))}")
        if torch.isclose(got, want * len(x), rtol=1e-5) and len(x) > 1:
            raise AssertionError(f"{name}: got the sum over the batch; take the mean")
        if torch.isclose(got * got, want, rtol=1e-5) and not torch.isclose(got, want, rtol=1e-5):
            raise AssertionError(f"{name}: got a norm, not its square (or the square root of the mean)")
        assert torch.isclose(got, want, rtol=1e-5, atol=1e-9), (
            f"{name}: penalty {got.item():.6g}, expected {want.item():.6g}: mean_i ‖∇_x ℓ(x_i)‖²")
        if not got.requires_grad:
            raise AssertionError(f"{name}: the penalty has no gradient in D's weights: pass create_graph=True "
                                 "to torch.autograd.grad")
        w = next(D.parameters())
        gw, = torch.autograd.grad(got, w, allow_unused=True)
        ww, = torch.autograd.grad(r1_reference(D, x), w)
        assert gw is not None and torch.allclose(gw, ww, rtol=1e-4, atol=1e-8), (
            f"{name}: the penalty's gradient in the first weight matrix differs from the reference")
    passed("R1 penalty correct and differentiable in the discriminator's weights (2-D, 64-D, batch of 1)")
