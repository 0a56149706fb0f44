"""Exercise checkers for p2-vii (regularization and normalization)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from book.checks import assert_close
from book.exercises import passed


def dropout_variance_reference(h, p: float):
    """Variance over masks of inverted dropout's output for a fixed input: h² p / (1 − p)."""
    return h ** 2 * p / (1.0 - p)


def check_dropout_variance(fn: Callable) -> None:
    """``fn(h, p)`` must return, elementwise, the variance of m·h/(1−p) with m ~ Bernoulli(1−p)."""
    rng = np.random.default_rng(5)
    cases = [(rng.standard_normal(17) * 3.0, 0.5), (rng.standard_normal((4, 9)), 0.1),
             (np.array([0.0, -2.0, 1e3]), 0.9), (rng.standard_normal(5), 0.0)]
    for h, p in cases:
        got = np.asarray(fn(h.copy(), p), dtype=np.float64)
        assert got.shape == h.shape, f"for h of shape {h.shape} you returned shape {got.shape}"
        assert_close(got, dropout_variance_reference(h, p), rtol=1e-10, atol=1e-12,
                     name=f"variance for p = {p}. Hint: Var[m] = p(1−p) and the output is m·h/(1−p)")
    # And against simulation, so that a formula right for the wrong scaling cannot pass.
    gen = torch.Generator().manual_seed(0)
    h = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    masks = (torch.rand(200_000, 3, generator=gen, dtype=torch.float64) >= 0.3).double()
    measured = (masks * h / 0.7).var(0)
    assert_close(np.asarray(fn(h.numpy(), 0.3), dtype=np.float64), measured, rtol=0.03,
                 name="variance vs 200,000 simulated masks")
    passed("dropout variance = h²·p/(1−p) on 4 cases and against simulation")


def _decay_test_models() -> list[nn.Module]:
    torch.manual_seed(0)
    return [
        nn.Sequential(nn.Linear(7, 5), nn.ReLU(), nn.Linear(5, 3)),
        nn.Sequential(nn.Embedding(11, 6), nn.LayerNorm(6), nn.Linear(6, 4, bias=False)),
        nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2)),
    ]


def check_decay_groups(fn: Callable[[nn.Module, float], list]) -> None:
    """``fn(model, wd)`` must return AdamW parameter groups: wd for ≥2-D parameters, 0 for the rest."""
    for model in _decay_test_models():
        groups = fn(model, 0.1)
        seen = {}
        for g in groups:
            assert isinstance(g, dict) and "params" in g and "weight_decay" in g, (
                "each group must be a dict with 'params' and 'weight_decay'")
            for p in g["params"]:
                assert id(p) not in seen, "a parameter appears in two groups"
                seen[id(p)] = g["weight_decay"]
        for name, p in model.named_parameters():
            assert id(p) in seen, f"parameter {name} is in no group"
            want = 0.1 if p.dim() >= 2 else 0.0
            assert seen[id(p)] == want, (
                f"{name} (shape {tuple(p.shape)}) has weight_decay {seen[id(p)]}, expected {want}. "
                "Hint: decay matrices, embeddings and kernels (dim ≥ 2), not biases or norm gains")
        torch.optim.AdamW(groups, lr=1e-3)          # and the groups must be valid optimizer input
    passed("decay groups: matrices decayed, biases and norm gains not, on 3 models")


def layer_norm_backward_reference(x, gamma, grad_out, eps: float = 1e-5):
    """Gradients (dx, dgamma, dbeta) of LayerNorm over the last axis, by autograd."""
    with torch.enable_grad():                      # also when called under torch.no_grad()
        x = x.detach().clone().requires_grad_()
        gamma = gamma.detach().clone().requires_grad_()
        beta = torch.zeros_like(gamma, requires_grad=True)
        y = F.layer_norm(x, (x.shape[-1],), gamma, beta, eps)
        return torch.autograd.grad(y, (x, gamma, beta), grad_out)


def check_layer_norm_backward(fn: Callable) -> None:
    """``fn(x, gamma, grad_out, eps)`` must return (dx, dgamma, dbeta) of LayerNorm, like autograd."""
    gen = torch.Generator().manual_seed(11)
    shapes = [(5, 8), (3, 7, 13), (1, 1), (2, 1, 31)]
    for shape in shapes:
        x = torch.randn(shape, generator=gen, dtype=torch.float64) * 4 + 2
        gamma = torch.randn(shape[-1], generator=gen, dtype=torch.float64)
        g = torch.randn(shape, generator=gen, dtype=torch.float64)
        want = layer_norm_backward_reference(x, gamma, g, 1e-5)
        with torch.no_grad():
            got = fn(x.clone(), gamma.clone(), g.clone(), 1e-5)
        assert len(got) == 3, "return the tuple (dx, dgamma, dbeta)"
        for name, a, b in zip(("dx", "dgamma", "dbeta"), got, want):
            assert tuple(a.shape) == tuple(b.shape), (
                f"{name} for x of shape {shape}: got shape {tuple(a.shape)}, expected {tuple(b.shape)}")
            assert_close(a, b, rtol=1e-8, atol=1e-10,
                         name=f"{name} for x of shape {shape}. "
                              "Hint: dx has three terms; γ and β gradients sum over all rows")
    passed("LayerNorm backward = autograd on 4 shapes, a single feature included")


def batch_norm_2d_reference(x, gamma, beta, eps: float = 1e-5):
    """Training-mode BatchNorm2d with batch statistics (PyTorch's functional form)."""
    return F.batch_norm(x, None, None, gamma, beta, training=True, eps=eps)


def check_batch_norm_2d(fn: Callable) -> None:
    """``fn(x, gamma, beta, eps)`` must normalise (B, C, H, W) per channel over B, H and W."""
    gen = torch.Generator().manual_seed(4)
    for shape in [(4, 3, 5, 5), (1, 2, 7, 3), (6, 5, 1, 1), (2, 1, 9, 11)]:
        x = torch.randn(shape, generator=gen, dtype=torch.float64) * 3 - 1
        gamma = torch.randn(shape[1], generator=gen, dtype=torch.float64)
        beta = torch.randn(shape[1], generator=gen, dtype=torch.float64)
        got = fn(x.clone(), gamma.clone(), beta.clone(), 1e-5)
        assert tuple(got.shape) == shape, f"output shape {tuple(got.shape)} for input {shape}"
        assert_close(got, batch_norm_2d_reference(x, gamma, beta), rtol=1e-9, atol=1e-11,
                     name=f"BatchNorm2d on {shape}. Hint: one mean and biased variance per channel, over axes 0, 2, 3")
    passed("BatchNorm2d (training mode) = torch on 4 shapes, a batch of one included")
