"""Exercise checkers for p6-5 (safety and alignment).

The references are :func:`book.alignment.dpo_loss`, scikit-learn's precision
and recall, and the closed-form optimum of the KL-regularised objective of
p6-5.3 computed in log space. Inputs are awkward on purpose: huge negative
margins, empty predictions, no positives at all, tiny ``beta``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sklearn.metrics import precision_score, recall_score

from book.alignment import dpo_loss
from book.exercises import passed


def optimal_policy_reference(ref_probs: torch.Tensor, rewards: torch.Tensor, beta: float) -> torch.Tensor:
    """π* = π_ref · exp(r / β) / Z, computed as a softmax of log π_ref + r / β."""
    return torch.softmax(torch.log(ref_probs) + rewards / beta, dim=-1)


def check_dpo_loss(fn: Callable) -> None:
    """``fn(pc, pr, rc, rr, beta)`` -> (mean DPO loss, margins (n,))."""
    g = torch.Generator().manual_seed(0)
    cases = [("policy = reference", [torch.zeros(3)] * 4, 0.1),
             ("random log-probabilities", [-10 * torch.rand(8, generator=g) for _ in range(4)], 0.1),
             ("beta 1", [-5 * torch.rand(5, generator=g) for _ in range(4)], 1.0),
             ("a huge negative margin", [torch.tensor([-500.0]), torch.tensor([0.0]),
                                         torch.tensor([0.0]), torch.tensor([0.0])], 1.0)]
    for name, (pc, pr, rc, rr), beta in cases:
        want_loss, want_margin = dpo_loss(pc, pr, rc, rr, beta)
        got_loss, got_margin = fn(pc.clone(), pr.clone(), rc.clone(), rr.clone(), beta)
        got_margin = torch.as_tensor(got_margin, dtype=want_margin.dtype)
        if got_margin.shape == want_margin.shape and torch.allclose(got_margin, -want_margin, atol=1e-6) \
                and want_margin.abs().max() > 0:
            raise AssertionError(f"{name}: the margin has the wrong sign; it is the chosen answer's implicit "
                                 "reward minus the rejected one's")
        assert got_margin.shape == want_margin.shape and torch.allclose(got_margin, want_margin, atol=1e-5), (
            f"{name}: margins {got_margin.tolist()}, expected β·((pc − rc) − (pr − rr)) = {want_margin.tolist()}")
        got_loss = float(got_loss)
        assert np.isfinite(got_loss), f"{name}: the loss is {got_loss}; use logsigmoid, not log(sigmoid(...))"
        assert abs(got_loss - want_loss.item()) < 1e-4 * max(1.0, abs(want_loss.item())), (
            f"{name}: loss {got_loss:.6f}, expected mean(−log σ(margin)) = {want_loss.item():.6f}")
    passed("DPO loss and margins correct, including a margin of −500")


def check_precision_recall(fn: Callable) -> None:
    """``fn(y_true, y_pred)`` -> (precision, recall) for boolean arrays; 0 when a denominator is empty."""
    rng = np.random.default_rng(0)
    cases = [("a mix", rng.random(50) < 0.3, rng.random(50) < 0.4),
             ("perfect", np.array([1, 0, 1, 0], bool), np.array([1, 0, 1, 0], bool)),
             ("nothing predicted", np.array([1, 0, 1], bool), np.zeros(3, bool)),
             ("no positives at all", np.zeros(4, bool), np.array([1, 0, 0, 1], bool)),
             ("all predicted", rng.random(30) < 0.5, np.ones(30, bool))]
    for name, yt, yp in cases:
        want = (precision_score(yt, yp, zero_division=0), recall_score(yt, yp, zero_division=0))
        got = tuple(float(v) for v in fn(yt.copy(), yp.copy()))
        if abs(got[0] - want[1]) < 1e-12 and abs(got[1] - want[0]) < 1e-12 and want[0] != want[1]:
            raise AssertionError(f"{name}: precision and recall are swapped; precision divides by the predicted "
                                 "positives, recall by the actual positives")
        assert abs(got[0] - want[0]) < 1e-12 and abs(got[1] - want[1]) < 1e-12, (
            f"{name}: got (precision, recall) = {got}, expected {want} (scikit-learn, zero_division=0)")
    passed("precision and recall match scikit-learn, including empty denominators")


def check_optimal_policy(fn: Callable) -> None:
    """``fn(ref_probs, rewards, beta)`` -> the distribution π_ref · exp(r/β) / Z."""
    cases = [("uniform reference", torch.full((4,), 0.25, dtype=torch.float64),
              torch.tensor([1.0, 0.0, 0.0, -1.0], dtype=torch.float64), 1.0),
             ("zero reward", torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64), torch.zeros(3, dtype=torch.float64),
              0.5),
             ("large beta", torch.tensor([0.7, 0.2, 0.1], dtype=torch.float64),
              torch.tensor([0.0, 5.0, 1.0], dtype=torch.float64), 100.0),
             ("tiny beta (overflows exp(r/β))", torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64),
              torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64), 1e-3)]
    for name, p, r, beta in cases:
        want = optimal_policy_reference(p, r, beta)
        got = torch.as_tensor(fn(p.clone(), r.clone(), beta), dtype=torch.float64)
        assert torch.isfinite(got).all(), f"{name}: got {got.tolist()}; compute it in log space (a softmax)"
        assert got.shape == want.shape and torch.allclose(got, want, atol=1e-9), (
            f"{name} (β = {beta}): got {got.tolist()}, expected π_ref·exp(r/β)/Z = {want.tolist()}")
    passed("KL-regularised optimum correct, including β = 0.001")
