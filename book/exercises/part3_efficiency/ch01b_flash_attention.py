"""Exercise checkers for p3-i-b (FlashAttention).

Every reference here is the plain attention that materialises the T×T score
matrix, in float64, so a correct answer matches to about 1e-10. Shapes are
awkward on purpose: lengths that are not multiples of the block, length 1,
windows wider than the sequence, a partial result over an empty key set.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from book.checks import assert_close
from book.exercises import passed, with_hint
from book.nn.attention import masked_scores


def masked_attention_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                               keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax over the kept keys of each row, times V; returns (out, lse). A row with no key gives (0, -inf)."""
    s = masked_scores(q, k, mask=keep)                                   # book.nn.attention's scores
    lse = torch.logsumexp(s, dim=-1)                                     # -inf for an empty row
    p = torch.where(keep, torch.exp(s - lse[..., None].clamp_min(-1e300)), torch.zeros_like(s))
    return p @ v, lse


def sliding_window_mask(n: int, window: int) -> torch.Tensor:
    """(n, n) bool: query i sees key j iff i − window < j ≤ i (itself and the window − 1 keys before it)."""
    i = torch.arange(n)[:, None]
    j = torch.arange(n)[None, :]
    return (j <= i) & (j > i - window)


def check_sliding_window(fn: Callable[..., torch.Tensor]) -> None:
    """``fn(q, k, v, window, block_q, block_k)`` must return sliding-window causal attention (…, T, d)."""
    g = torch.Generator().manual_seed(11)
    cases = [  # (batch shape, T, d, window, block_q, block_k)
        ((), 70, 16, 5, 16, 16),
        ((2,), 37, 8, 17, 16, 8),
        ((), 1, 4, 3, 16, 16),
        ((), 50, 8, 1, 8, 16),          # window 1: each query sees only itself
        ((3,), 33, 8, 100, 16, 16),     # window wider than the sequence: plain causal attention
    ]
    for batch, n, d, window, bq, bk in cases:
        q, k, v = (torch.randn(*batch, n, d, generator=g, dtype=torch.float64) for _ in range(3))
        got = fn(q.clone(), k.clone(), v.clone(), window, bq, bk)
        assert isinstance(got, torch.Tensor), f"return a tensor, got {type(got).__name__}"
        assert got.shape == q.shape, f"output must have q's shape {tuple(q.shape)}, got {tuple(got.shape)}"
        want = masked_attention_reference(q, k, v, sliding_window_mask(n, window))[0]
        with_hint(lambda: assert_close(got, want, rtol=1e-9, atol=1e-10,
                                        name=f"T={n}, window={window}, blocks=({bq}, {bk})"),
                   "query i keeps keys j with i − window < j ≤ i; mask the rest of each visited tile with -inf, "
                   "skip only key blocks that lie entirely before i − window + 1 for every query of the block, and "
                   "guard rows whose tile is fully masked (max = -inf) so that exp(-inf − (-inf)) never occurs")
    passed("sliding-window attention = masked reference on 5 cases (window 1 and window > T included)")


def check_merge_states(fn: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> None:
    """``fn(o_a, lse_a, o_b, lse_b)`` must combine attention over two disjoint key sets into the union's."""
    g = torch.Generator().manual_seed(12)
    for n_q, n_k, d, scale in [(5, 40, 8, 1.0), (1, 2, 4, 1.0), (7, 33, 16, 30.0), (4, 10, 8, 1.0)]:
        q = torch.randn(n_q, d, generator=g, dtype=torch.float64) * scale
        k, v = (torch.randn(n_k, d, generator=g, dtype=torch.float64) for _ in range(2))
        in_a = torch.rand(n_k, generator=g) < 0.5
        if n_k == 10:
            in_a[:] = True                                   # part b is empty: lse_b = -inf, o_b = 0
        keep_a = in_a[None, :].expand(n_q, n_k)
        o_a, lse_a = masked_attention_reference(q, k, v, keep_a)
        o_b, lse_b = masked_attention_reference(q, k, v, ~keep_a)
        o_all, lse_all = masked_attention_reference(q, k, v, torch.ones(n_q, n_k, dtype=torch.bool))
        got = fn(o_a.clone(), lse_a.clone(), o_b.clone(), lse_b.clone())
        assert isinstance(got, tuple) and len(got) == 2, "return the pair (o, lse)"
        o, lse = got
        assert o.shape == o_all.shape and lse.shape == lse_all.shape, (
            f"o must have shape {tuple(o_all.shape)} and lse {tuple(lse_all.shape)}, "
            f"got {tuple(o.shape)} and {tuple(lse.shape)}")
        hint = ("the union's normaliser is exp(lse) = exp(lse_a) + exp(lse_b) (use torch.logaddexp), and each "
                "partial output is weighted by its share exp(lse_a − lse) or exp(lse_b − lse)")
        with_hint(lambda: assert_close(lse, lse_all, rtol=1e-10, atol=1e-10, name=f"lse ({n_q}×{n_k})"), hint)
        with_hint(lambda: assert_close(o, o_all, rtol=1e-9, atol=1e-10, name=f"o ({n_q}×{n_k})"), hint)
    passed("merged partial results = attention over all keys on 4 splits (an empty part and large scores included)")


class _LargestTensor(TorchDispatchMode):
    """Records the largest number of elements of any tensor an operation creates."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def attention_grads_reference(q, k, v, do, causal):
    """(o, lse, dq, dk, dv) of plain attention by autograd, in q's dtype."""
    q, k, v = (t.detach().clone().requires_grad_() for t in (q, k, v))
    s = masked_scores(q, k, causal=causal)
    o = torch.softmax(s, dim=-1) @ v
    dq, dk, dv = torch.autograd.grad(o, (q, k, v), do)
    return o.detach(), torch.logsumexp(s, dim=-1).detach(), dq, dk, dv


def check_blockwise_backward(fn: Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> None:
    """``fn(q, k, v, o, do, lse, causal, block)`` must return (dq, dk, dv) without a T×T intermediate."""
    g = torch.Generator().manual_seed(13)
    for n, d, causal, block in [(96, 16, False, 16), (96, 16, True, 16), (37, 8, True, 16),
                                (70, 32, False, 32), (1, 4, True, 16)]:
        q, k, v, do = (torch.randn(n, d, generator=g, dtype=torch.float64) for _ in range(4))
        o, lse, *want = attention_grads_reference(q, k, v, do, causal)
        with torch.no_grad(), _LargestTensor() as probe:
            got = fn(q.clone(), k.clone(), v.clone(), o.clone(), do.clone(), lse.clone(), causal, block)
        assert isinstance(got, tuple) and len(got) == 3, "return the triple (dq, dk, dv)"
        for name, g_, w in zip(("dq", "dk", "dv"), got, want):
            assert g_.shape == w.shape, f"{name} must have shape {tuple(w.shape)}, got {tuple(g_.shape)}"
            with_hint(lambda: assert_close(g_, w, rtol=1e-9, atol=1e-10, name=f"{name} (T={n}, causal={causal})"),
                       "recompute P = exp(S − lse) per tile; dV += Pᵀ dO, dP = dO Vᵀ, dS = P ∘ (dP − Δ) with "
                       "Δ = rowsum(dO ∘ O); dQ += dS K · scale, dK += dSᵀ Q · scale; masked scores give P = 0")
        if n >= 64:
            assert probe.largest < n * n // 2, (
                f"for T={n} your code created a tensor of {probe.largest} elements (T² = {n * n}): "
                "work in tiles of (block × T) or (block × block), never the whole score matrix")
    passed("blockwise backward = autograd on 5 cases (causal, ragged T, T = 1), never forming T×T")
