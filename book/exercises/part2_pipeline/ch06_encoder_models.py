"""Exercise checkers for p2-vi (encoder models: BERT)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from book.checks import assert_close
from book.exercises import passed
from book.exercises.shared import check_padded_attention, padded_attention_reference  # noqa: F401  (re-exported)
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
