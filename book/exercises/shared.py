"""Checkers for concepts that more than one chapter exercises: one contract each.

* :func:`check_padded_attention`: attention with a key-padding mask, exercised
  in p1-6.2 (a batch of sentences of different lengths) and p2-vi-bidirectional
  (BERT's encoder, with heads). The mask follows the book's one convention,
  that of :func:`book.nn.attention.attention`: **True marks a key to keep**
  (a real token), False a padding position.

The chapters' own modules re-export these, so a notebook calls
``ex.check_padded_attention`` from its chapter's module as usual.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from book.checks import assert_close
from book.exercises import passed, with_hint
from book.nn.attention import attention


def padded_attention_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                               keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The book's attention with a key-padding mask ``keep`` (B, S), True = real key: (output, weights)."""
    mask = keep.reshape(keep.shape[0], *([1] * (q.dim() - 2)), keep.shape[-1])   # (B, 1, …, 1, S)
    return attention(q, k, v, mask=mask)


def check_padded_attention(fn: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> None:
    """``fn(q, k, v, keep)`` -> ``(output, weights)``: attention that ignores padded keys exactly.

    q (B, [H,] T, D), k (B, [H,] S, D), v (B, [H,] S, Dv); ``keep`` (B, S) is
    True at the real keys. Checked on batches without and with a head axis,
    with one-token and full-length rows and garbage in the padding, and for
    invariance to extra padding appended at the end.
    """
    g = torch.Generator().manual_seed(6)
    cases = [  # (leading shape (B,) or (B, H), T, S, D, Dv, lengths)
        ((4,), 5, 7, 3, 2, [1, 7, 3, 6]),
        ((1,), 1, 1, 4, 4, [1]),
        ((3, 2), 7, 7, 5, 5, [7, 4, 1]),
    ]
    for lead, T, S, D, Dv, lengths in cases:
        B = lead[0]
        q = torch.randn(*lead, T, D, generator=g, dtype=torch.float64) * 2
        k = torch.randn(*lead, S, D, generator=g, dtype=torch.float64) * 2
        v = torch.randn(*lead, S, Dv, generator=g, dtype=torch.float64)
        keep = torch.arange(S)[None, :] < torch.tensor(lengths)[:, None]            # (B, S)
        for b, n in enumerate(lengths):       # garbage in the padding: it must not matter
            k[b, ..., n:, :] = 1e3
            v[b, ..., n:, :] = 1e6
        out = fn(q.clone(), k.clone(), v.clone(), keep.clone())
        assert isinstance(out, tuple) and len(out) == 2, (
            f"return (output, weights), as book.nn.attention.attention does; got {type(out).__name__}")
        y, w = out
        want_y, want_w = (*lead, T, Dv), (*lead, T, S)
        assert tuple(y.shape) == want_y and tuple(w.shape) == want_w, (
            f"expected shapes {want_y} and {want_w}, got {tuple(y.shape)} and {tuple(w.shape)}")
        pad = (~keep).reshape(B, *([1] * (len(lead) - 1)), 1, S).expand_as(w)
        pad_weight = w.masked_select(pad).abs().max().item() if pad.any() else 0.0
        assert pad_weight == 0.0, (f"padded keys still get weight {pad_weight:.3g}. Hint: keep is True at the "
                                   "real keys; set the scores of the other keys (the last axis) to -inf "
                                   "before the softmax")
        y_ref, w_ref = padded_attention_reference(q, k, v, keep)
        case = f"shape {tuple(q.shape)}, lengths={lengths}"
        with_hint(lambda: assert_close(w, w_ref, rtol=1e-10, atol=1e-12, name=f"attention weights, {case}"),
                  "scale the scores by 1/sqrt(D) and let each row renormalise over its real keys only")
        assert_close(y, y_ref, rtol=1e-10, atol=1e-10, name=f"attention output, {case}")
        # Three more padded keys at the end (random content) must change nothing.
        extra_k = torch.randn(*lead, 3, D, generator=g, dtype=torch.float64) * 5
        extra_v = torch.randn(*lead, 3, Dv, generator=g, dtype=torch.float64) * 5
        keep2 = torch.cat([keep, torch.zeros(B, 3, dtype=torch.bool)], dim=1)
        y2, _ = fn(q.clone(), torch.cat([k, extra_k], -2), torch.cat([v, extra_v], -2), keep2)
        assert_close(y2, y, rtol=1e-10, atol=1e-10, name=f"outputs after appending padding, {case}")
    passed("padded keys get zero weight; outputs equal the reference with and without a head axis "
           "(length 1 and full length included) and ignore extra padding")
