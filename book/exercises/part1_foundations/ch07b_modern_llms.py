"""Exercise checkers for p1-ch7b (modern blocks, mixture of experts, alignment)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from book.checks import assert_close
from book.exercises import passed
from book.nn.layers import apply_rope, rope_angles
from book.nn.moe import TopKMoE


def collapsed_aux_loss_measured(n_experts: int, top_k: int, d_model: int = 8, n_tokens: int = 64) -> float:
    """The load-balancing loss of a real :class:`TopKMoE` whose router sends every token to experts 0..k-1.

    All tokens share one direction ``u``; the router's first ``top_k`` rows
    point along it with a large gain, the others are zero, so the first
    ``top_k`` experts get (almost) all of the router probability, in equal parts.
    """
    g = torch.Generator().manual_seed(0)
    u = torch.randn(d_model, generator=g, dtype=torch.float64)
    u = u / u.norm()
    x = u.expand(n_tokens, d_model).clone()                       # every token looks the same to the router
    moe = TopKMoE(d_model, n_experts, top_k).double()
    with torch.no_grad():
        moe.router.weight.zero_()
        moe.router.weight[:top_k] = 40.0 * u                      # logit 40 for the chosen experts, 0 for the rest
        moe(x)
    return float(moe.aux_loss)


def check_collapsed_aux_loss(fn: Callable[[int, int], float]) -> None:
    """``fn(E, k)`` must predict the balancing loss E·Σ f_e·P_e of a router collapsed onto k experts."""
    for n_experts, top_k in [(4, 2), (8, 2), (8, 1), (16, 4), (3, 3), (64, 8)]:
        got = float(fn(n_experts, top_k))
        want = collapsed_aux_loss_measured(n_experts, top_k)
        assert abs(got - want) <= 1e-6 * want, (
            f"for E={n_experts}, k={top_k} you predicted {got:.6g}, a collapsed TopKMoE measures {want:.6g}. "
            "Hint: the k chosen experts each get f_e = 1/k of the slots and P_e = 1/k of the probability; "
            "the other experts get neither.")
    passed("collapsed-router balancing loss predicted for 6 (E, k) settings, measured on TopKMoE")


def rope_rotate_half_reference(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE in the "rotate half" layout: dimension i is paired with i + D/2 (not with i + 1)."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def _interleave(d: int) -> torch.Tensor:
    """The permutation that turns the half-split layout into consecutive pairs: [0, D/2, 1, D/2+1, …]."""
    return torch.stack([torch.arange(d // 2), torch.arange(d // 2) + d // 2], dim=1).flatten()


def check_rope_rotate_half(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """``fn(x, cos, sin)`` must apply RoPE with pairs (x[i], x[i + D/2]).

    It is compared with :func:`book.nn.layers.apply_rope` on the same vectors
    with their dimensions permuted into consecutive pairs, so the two layouts
    must rotate exactly the same planes by the same angles.
    """
    g = torch.Generator().manual_seed(11)
    for shape in [(2, 3, 17, 8), (1, 16), (5, 2), (4, 31, 64)]:
        t, d = shape[-2], shape[-1]
        x = torch.randn(*shape, generator=g, dtype=torch.float64)
        cos, sin = (a.double() for a in rope_angles(t, d))
        got = fn(x.clone(), cos, sin)
        assert isinstance(got, torch.Tensor) and got.shape == x.shape, (
            f"for x of shape {tuple(shape)} return a tensor of the same shape, got "
            f"{tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}")
        perm = _interleave(d)
        want = apply_rope(x[..., perm], cos, sin)[..., torch.argsort(perm)]
        try:
            assert_close(got, want, rtol=1e-10, atol=1e-12, name=f"rotate-half RoPE, x of shape {tuple(shape)}")
        except AssertionError as e:
            raise AssertionError(f"{e}. Hint: pair dimension i with dimension i + D/2; "
                                 "consecutive pairs (2i, 2i+1) are the other layout.") from None
    passed("rotate-half RoPE = interleaved RoPE after permuting dimensions, on 4 shapes")


def response_logprob_reference(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ_t mask[b,t]·log softmax(logits[b,t])[targets[b,t]]: the log-probability of each response (B,)."""
    logp = torch.log_softmax(logits, dim=-1)
    tok = logp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)     # (B, T)
    return (tok * mask).sum(-1)


def check_response_logprob(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """``fn(logits (B,T,V), targets (B,T), mask (B,T))`` must return each response's total log-probability (B,).

    Masked positions (prompt and padding) carry the target id -100 and must
    contribute nothing; logits of ±1e4 must give finite answers; the result
    must carry gradients back to the logits.
    """
    g = torch.Generator().manual_seed(5)
    cases = []
    for b, t, v in [(3, 11, 74), (1, 1, 5), (4, 7, 2)]:
        logits = torch.randn(b, t, v, generator=g, dtype=torch.float64) * 3
        targets = torch.randint(0, v, (b, t), generator=g)
        mask = (torch.rand(b, t, generator=g) < 0.7).double()
        cases.append((f"random (B, T, V) = {(b, t, v)}", logits, targets, mask))
    logits = torch.randn(2, 6, 9, generator=g, dtype=torch.float64) * 1e4     # huge logits
    targets = torch.randint(0, 9, (2, 6), generator=g)
    cases.append(("logits of ±1e4", logits, targets, torch.ones(2, 6, dtype=torch.float64)))
    logits = torch.randn(2, 5, 7, generator=g, dtype=torch.float64)
    targets = torch.randint(0, 7, (2, 5), generator=g)
    mask = torch.tensor([[0, 0, 1, 1, 0], [0, 0, 0, 0, 0]], dtype=torch.float64)  # padding; an empty response
    cases.append(("padded, one empty response", logits, targets, mask))
    for name, logits, targets, mask in cases:
        targets = targets.masked_fill(mask == 0, -100)
        lg = logits.clone().requires_grad_(True)
        got = fn(lg, targets.clone(), mask.clone())
        assert isinstance(got, torch.Tensor) and got.shape == (logits.shape[0],), (
            f"{name}: return a tensor of shape (B,) = ({logits.shape[0]},), one log-probability per response")
        assert torch.isfinite(got).all(), f"{name}: the result has inf or NaN; use log_softmax, not log(softmax)"
        lr = logits.clone().requires_grad_(True)
        want = response_logprob_reference(lr, targets, mask)
        assert_close(got, want, rtol=1e-9, atol=1e-9, name=name)
        assert got.requires_grad, f"{name}: the result must stay differentiable (no .detach(), no .item())"
        got.sum().backward()
        want.sum().backward()
        assert_close(lg.grad, lr.grad, rtol=1e-8, atol=1e-9, name=f"{name}: gradient w.r.t. the logits")
    passed("response log-probabilities and their gradients on 5 cases, padding and ±1e4 logits included")

