"""Exercise checkers for Part II, chapter VI (encoder models: BERT)."""

from __future__ import annotations

import math
from typing import Callable

import torch

from book.checks import assert_close
from book.exercises import passed
from book.nn.bert import Bert, BertConfig, mask_tokens


def mask_fractions_reference(p: float, vocab_size: int) -> tuple[float, float, float]:
    """Fractions of the ordinary positions that show [MASK], another word, or their own word while chosen.

    The 10 % random replacement is uniform over all ``vocab_size`` ids, so it
    lands on [MASK] or on the original word with probability 1/|V| each.
    """
    return (p * (0.8 + 0.1 / vocab_size),
            p * 0.1 * (vocab_size - 2) / vocab_size,
            p * (0.1 + 0.1 / vocab_size))


def check_mask_fractions(fn: Callable[[float, int], tuple]) -> None:
    """``fn(p, vocab_size)`` -> (shows [MASK], shows another word, chosen but unchanged), per ordinary position."""
    for p, v in [(0.15, 77), (0.15, 30522), (0.4, 5), (1.0, 3), (0.0, 10)]:
        got = tuple(float(x) for x in fn(p, v))
        assert len(got) == 3, f"return three fractions, got {len(got)}"
        assert_close(got, mask_fractions_reference(p, v), rtol=1e-9, atol=1e-12,
                     name=f"fractions for p = {p}, |V| = {v}. Hint: the random tenth may draw [MASK] "
                          "or the original word itself, each with probability 1/|V|")
    # Against the package's mask_tokens on a tiny vocabulary (ids 0..3 are words, 4 is [MASK]).
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 4, (400, 500), generator=gen)
    inputs, labels = mask_tokens(x, mask_id=4, vocab_size=5, p=0.4, generator=gen)
    chosen = labels != -100
    measured = ((inputs == 4).float().mean().item(),
                (chosen & (inputs != 4) & (inputs != x)).float().mean().item(),
                (chosen & (inputs == x)).float().mean().item())
    for got, m, what in zip(fn(0.4, 5), measured, ("[MASK]", "another word", "unchanged")):
        se = math.sqrt(m * (1 - m) / x.numel())
        assert abs(float(got) - m) < 5 * se + 1e-9, (
            f"'{what}': you predict {float(got):.4f}, mask_tokens gives {m:.4f} on 200,000 positions")
    passed("masking fractions match the formula and 200,000 simulated positions")


def padded_attention_reference(q, k, v, key_pad):
    """Attention with −∞ scores for padded keys: (output (B,H,T,D), weights (B,H,T,T))."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(key_pad[:, None, None, :], float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def check_padded_attention(fn: Callable) -> None:
    """``fn(q, k, v, key_pad)`` must ignore padded keys exactly, and be invariant to extra padding."""
    gen = torch.Generator().manual_seed(3)
    B, H, T, D = 3, 2, 7, 5
    q, k, v = (torch.randn(B, H, T, D, generator=gen, dtype=torch.float64) * 2 for _ in range(3))
    lengths = torch.tensor([7, 4, 1])
    key_pad = torch.arange(T)[None, :] >= lengths[:, None]                 # (B, T)
    out = fn(q, k, v, key_pad)
    assert isinstance(out, tuple) and len(out) == 2, "return (output, weights)"
    y, w = out
    assert tuple(y.shape) == (B, H, T, D) and tuple(w.shape) == (B, H, T, T), (
        f"expected shapes {(B, H, T, D)} and {(B, H, T, T)}, got {tuple(y.shape)} and {tuple(w.shape)}")
    pad_weight = w.masked_select(key_pad[:, None, None, :].expand_as(w)).abs().max().item()
    assert pad_weight == 0.0, (f"padded keys still get weight {pad_weight:.3g}. Hint: mask the *keys* "
                               "(the last axis of the scores) with −inf before the softmax")
    y_ref, w_ref = padded_attention_reference(q, k, v, key_pad)
    assert_close(w, w_ref, rtol=1e-10, atol=1e-12, name="attention weights (did you scale by 1/√D?)")
    assert_close(y, y_ref, rtol=1e-10, atol=1e-12, name="attention output")
    # Appending three more padded positions (random content) must not change the real positions' outputs.
    extra = [torch.cat([t, torch.randn(B, H, 3, D, generator=gen, dtype=torch.float64) * 5], dim=2)
             for t in (q, k, v)]
    pad2 = torch.cat([key_pad, torch.ones(B, 3, dtype=torch.bool)], dim=1)
    y2, _ = fn(*extra, pad2)
    assert_close(y2[:, :, :T], y, rtol=1e-10, atol=1e-12, name="outputs after appending padding")
    passed("padded keys get zero weight; outputs match the reference and ignore extra padding")


@torch.no_grad()
def pseudo_log_likelihood_reference(model: Bert, idx: torch.Tensor, mask_id: int,
                                    special: torch.Tensor) -> torch.Tensor:
    """Σ over non-special positions i of log p(x_i | x with [MASK] at i), one forward pass per position."""
    total = torch.zeros(idx.shape[0], dtype=torch.float64)
    for i in range(idx.shape[1]):
        masked = idx.clone()
        masked[:, i] = mask_id
        logp = torch.log_softmax(model.mlm_head(model.encode(masked))[:, i], dim=-1)
        term = logp.gather(1, idx[:, i:i + 1])[:, 0].double()
        total += torch.where(special[:, i], torch.zeros_like(term), term)
    return total


def check_pseudo_log_likelihood(fn: Callable) -> None:
    """``fn(model, idx, mask_id, special)`` -> (B,) pseudo-log-likelihoods of a small random Bert."""
    torch.manual_seed(11)
    model = Bert(BertConfig(vocab_size=13, max_len=9, d_model=32, n_head=4)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.2)                                                 # confident, varied predictions
    gen = torch.Generator().manual_seed(2)
    idx = torch.randint(0, 10, (6, 9), generator=gen)                           # 10 = [PAD], 11 = [CLS], 12 = [MASK]
    idx[:, 0] = 11
    idx[2, 5:] = 10
    idx[4, 2:] = 10
    special = idx >= 10
    got = fn(model, idx.clone(), 12, special.clone())
    got = torch.as_tensor(got, dtype=torch.float64).detach()
    assert tuple(got.shape) == (6,), f"return one score per sentence, shape (6,), got {tuple(got.shape)}"
    expected = pseudo_log_likelihood_reference(model, idx, 12, special)
    unmasked = torch.log_softmax(model.mlm_head(model.encode(idx)), -1).gather(2, idx[..., None])[..., 0]
    if torch.allclose(got, unmasked.masked_fill(special, 0).sum(1).double(), rtol=1e-4):
        raise AssertionError("your scores equal the log-probabilities of the *unmasked* input: "
                             "hide each position with mask_id before predicting it")
    assert_close(got, expected, rtol=1e-4, atol=1e-4,
                 name="pseudo-log-likelihood (mask one position at a time; skip special positions)")
    passed("pseudo-log-likelihoods match a position-by-position reference on 6 sentences, padding included")
