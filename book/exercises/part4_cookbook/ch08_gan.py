"""Exercise checkers for p4-8 (the GAN recipe).

References: autograd for the derivatives of the two generator losses,
:func:`book.generative.gan.generator_loss` for the non-saturating loss, and
:func:`book.generative.metrics.mode_coverage` for counting modes. Inputs include
logits of ±200 (where log σ underflows), a single sample, and centres closer
together than two radii.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.nn import functional as F

from book.exercises import passed
from book.generative.gan import generator_loss
from book.generative.metrics import mode_coverage


def _logit_cases() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [3 * torch.randn(257, generator=g) - 1,
            torch.tensor([-30.0, -5.0, 0.0, 5.0, 30.0]),
            torch.tensor([-4.59512]),                         # D(G(z)) ≈ 0.01
            torch.linspace(-10, 10, 41)]


def check_loss_gradients(fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]) -> None:
    """``fn(logits)`` -> (d/dℓ log(1 − σ(ℓ)), d/dℓ (−log σ(ℓ))), each of shape (N,)."""
    for logits in _logit_cases():
        ell = logits.double().requires_grad_(True)
        (want_mm,) = torch.autograd.grad(-F.softplus(ell).sum(), ell)      # log(1 − σ(ℓ)) = −softplus(ℓ)
        (want_ns,) = torch.autograd.grad(F.softplus(-ell).sum(), ell)      # −log σ(ℓ) = softplus(−ℓ)
        got = fn(logits.clone())
        if not isinstance(got, tuple) or len(got) != 2:
            raise AssertionError(f"return a pair (minimax gradient, non-saturating gradient), got {type(got).__name__}")
        got_mm, got_ns = (torch.as_tensor(t).double().detach() for t in got)
        if got_mm.shape != logits.shape or got_ns.shape != logits.shape:
            raise AssertionError(f"each gradient must have the logits' shape {tuple(logits.shape)}, got "
                                 f"{tuple(got_mm.shape)} and {tuple(got_ns.shape)}: one value per sample")

        def close(a, b):
            return torch.allclose(a, b, rtol=1e-4, atol=1e-6)

        if close(got_mm, want_ns) and close(got_ns, want_mm):
            raise AssertionError("the two gradients are swapped: the minimax term log(1 − σ(ℓ)) comes first")
        if close(got_mm, -want_mm) or close(got_ns, -want_ns):
            raise AssertionError("a sign is wrong: both derivatives are negative (raising ℓ lowers both losses); "
                                 "use σ'(ℓ) = σ(ℓ)(1 − σ(ℓ))")
        if not close(got_mm, want_mm):
            raise AssertionError(f"d/dℓ log(1 − σ(ℓ)) is wrong at ℓ = {logits[:3].tolist()}…: expected "
                                 f"{want_mm[:3].tolist()}…, got {got_mm[:3].tolist()}…")
        if not close(got_ns, want_ns):
            raise AssertionError(f"d/dℓ (−log σ(ℓ)) is wrong at ℓ = {logits[:3].tolist()}…: expected "
                                 f"{want_ns[:3].tolist()}…, got {got_ns[:3].tolist()}…")
    passed("both derivatives equal autograd's on 4 sets of logits, from −30 to 30")


def check_ns_generator_loss(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """``fn(fake_logits)`` -> the mean non-saturating generator loss −mean log σ(ℓ), a scalar tensor."""
    cases = [*_logit_cases(), torch.tensor([-200.0, 0.0, 200.0]), torch.tensor([-200.0])]
    for logits in cases:
        got = fn(logits.clone())
        want = generator_loss(logits)
        if not isinstance(got, torch.Tensor) or got.dim() != 0:
            raise AssertionError(f"return a scalar tensor (0-d), got {type(got).__name__} of shape "
                                 f"{tuple(getattr(got, 'shape', ()))}: take the mean over the batch")
        if not torch.isfinite(got):
            raise AssertionError(f"the loss is {got.item()} for logits {logits.tolist()[:3]}…: log σ(ℓ) underflows "
                                 "for very negative ℓ; use −log σ(ℓ) = softplus(−ℓ)")
        if torch.allclose(got, want, rtol=1e-5, atol=1e-5):
            continue
        if torch.allclose(got, generator_loss(logits, non_saturating=False), rtol=1e-5, atol=1e-5):
            raise AssertionError("that is the minimax (saturating) form mean log(1 − σ(ℓ)); the non-saturating "
                                 "loss is −mean log σ(ℓ)")
        if len(logits) > 1 and torch.allclose(got, want * len(logits), rtol=1e-5, atol=1e-5):
            raise AssertionError("that is the sum over the batch; take the mean")
        raise AssertionError(f"for logits {logits.tolist()[:3]}… expected {want.item():.6f}, got {got.item():.6f}")
    passed(f"the non-saturating loss equals the package's on {len(cases)} cases, logits of ±200 included")


def check_count_modes(fn: Callable[[np.ndarray, np.ndarray, float, int], int]) -> None:
    """``fn(samples (N, 2), centres (K, 2), radius, min_count)`` -> how many centres hold >= min_count samples."""
    rng = np.random.default_rng(0)
    ring = 2.0 * np.stack([np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)], axis=1)
    close_pair = np.array([[0.0, 0.0], [0.5, 0.0]])
    cases = [(ring[rng.integers(0, 8, 400)] + 0.05 * rng.standard_normal((400, 2)), ring, 0.15, 10),
             (ring[rng.integers(0, 3, 300)] + 0.1 * rng.standard_normal((300, 2)), ring, 0.15, 1),   # 3 modes only
             (np.array([[0.1, 0.0], [0.35, 0.0], [0.3, 0.0]]), close_pair, 0.4, 2),   # nearest centre only
             (np.array([[0.4, 0.0]]), close_pair, 0.1, 1),                            # a single sample
             (rng.uniform(-3, 3, (200, 2)), ring, 0.15, 3)]                            # mostly far from any mode
    for samples, centres, radius, min_count in cases:
        want = mode_coverage(samples, centres, radius, min_count).covered
        got = fn(samples.copy(), centres.copy(), radius, min_count)
        if isinstance(got, (int, np.integer)) and int(got) == want:
            continue
        d = np.linalg.norm(samples[:, None] - centres[None], axis=-1)
        every = int(((d <= radius).sum(0) >= min_count).sum())
        if got == every and every != want:
            hint = "assign each sample to its nearest centre only, not to every centre within the radius"
        else:
            hint = "count, per centre, the samples whose nearest centre it is and that lie within the radius"
        raise AssertionError(f"count_modes(…, radius={radius}, min_count={min_count}) on {len(samples)} samples "
                             f"and {len(centres)} centres returned {got!r}, expected {want}: {hint}")
    passed(f"mode counts equal mode_coverage's on {len(cases)} cases, overlapping centres included")
