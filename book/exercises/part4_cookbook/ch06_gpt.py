"""Exercise checkers for p4-6 (the GPT recipe).

References: :meth:`book.nn.gpt.GPT.num_params` counted on real instances,
:func:`book.inference.sampling.top_k_filter`, and ``F.cross_entropy`` on the
shifted, masked targets. Inputs include an untied head, no biases, ties at the
k-th logit, k larger than the vocabulary, a fully padded row and logits large
enough to overflow a naive softmax.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.nn import functional as F

from book.exercises import passed
from book.inference.sampling import top_k_filter
from book.nn.gpt import GPT, GPTConfig


def check_gpt_parameters(fn: Callable[[GPTConfig], int]) -> None:
    """``fn(cfg)`` -> the number of trainable parameters of ``GPT(cfg)`` (LayerNorm, GELU MLP, MHA or GQA)."""
    cases = [GPTConfig(),
             GPTConfig(vocab_size=441, block_size=64, n_layer=2, n_head=4, d_model=64),
             GPTConfig(vocab_size=97, block_size=13, n_layer=3, n_head=3, d_model=48, tie_embeddings=False),
             GPTConfig(vocab_size=50, block_size=8, n_layer=1, n_head=2, d_model=16, bias=False),
             GPTConfig(vocab_size=31, block_size=16, n_layer=2, n_head=4, d_model=32, n_kv_head=2),
             GPTConfig(vocab_size=20, block_size=10, n_layer=1, n_head=2, d_model=8, positions="sinusoidal")]
    for cfg in cases:
        want = GPT(cfg).num_params()
        got = fn(cfg)
        if got == want:
            continue
        head = cfg.vocab_size * cfg.d_model
        if cfg.tie_embeddings and got == want + head:
            hint = "the head is tied to the token embedding: one (V, C) matrix, counted once"
        elif not cfg.tie_embeddings and got == want - head:
            hint = "with tie_embeddings=False the head is a (V, C) matrix of its own"
        elif cfg.positions != "learned" and got == want + cfg.block_size * cfg.d_model:
            hint = "sinusoidal positions are a fixed buffer, not trained parameters"
        elif not cfg.bias and got < want:
            hint = "bias=False removes the linear layers' biases; the LayerNorms keep theirs (2·C each)"
        elif cfg.n_kv_head and got > want:
            hint = "with grouped-query attention kv_proj maps C to 2·n_kv_head·(C / n_head) outputs"
        else:
            hint = ("per block: two norms, q_proj (C → C), kv_proj (C → 2C), out_proj (C → C), "
                    "up (C → 4C) and down (4C → C), each linear layer with its bias")
        raise AssertionError(f"gpt_parameters returned {got:,} for {cfg}, expected {want:,}: {hint}")
    passed(f"parameter counts match real GPTs on {len(cases)} configurations, untied, bias-free and GQA included")


def check_top_k_filter(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> None:
    """``fn(logits, k)`` -> logits with all but the k largest of each row set to −inf (ties at the k-th kept)."""
    g = torch.Generator().manual_seed(0)
    cases = [(torch.randn(4, 441, generator=g), 10),
             (torch.randn(2, 3, 17, generator=g), 1),                     # extra leading dimensions
             (torch.tensor([[1.0, 3.0, 2.0, 3.0, 0.5]]), 1),              # a tie at the top: both kept
             (torch.tensor([[2.0, 1.0, 1.0, 0.0]]), 2),                   # a tie at the k-th value: both kept
             (torch.randn(3, 5, generator=g), 9)]                         # k larger than the vocabulary
    for logits, k in cases:
        want = top_k_filter(logits, k)
        try:
            got = fn(logits.clone(), k)
        except (RuntimeError, IndexError) as err:
            raise AssertionError(f"top-k with k={k} on shape {tuple(logits.shape)} raised {err!r}: "
                                 "k may exceed the vocabulary; clamp it with min(k, V)") from None
        if not isinstance(got, torch.Tensor) or got.shape != logits.shape:
            raise AssertionError(f"expected a tensor of shape {tuple(logits.shape)}, got "
                                 f"{tuple(getattr(got, 'shape', ()))}: filter along the last dimension only")
        if torch.equal(got, want):
            continue
        kept_got, kept_want = torch.isfinite(got), torch.isfinite(want)
        if kept_got.all() and not kept_want.all():
            raise AssertionError("nothing was set to -inf: return filtered logits (the others at -inf), "
                                 "not probabilities; the softmax comes after the filter")
        if torch.equal(kept_got, kept_want):
            raise AssertionError("the right tokens are kept but their logits changed: keep them as they are, "
                                 "and set the others to -inf (not 0, not a renormalised probability)")
        if (kept_got.sum(-1) < kept_want.sum(-1)).any():
            raise AssertionError(f"too few tokens kept for k={k}: a tie at the k-th largest value keeps "
                                 "every tied token (compare with >=)")
        raise AssertionError(f"wrong tokens kept for k={k}: keep the k largest logits of each row, along dim=-1")
    passed(f"top-k filtering equals book.inference.sampling.top_k_filter on {len(cases)} cases, ties included")


def _reference_perplexity(logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> float:
    valid = mask[:, 1:]
    nll = F.cross_entropy(logits[:, :-1].flatten(0, 1).double(), ids[:, 1:].flatten(), reduction="none")
    return math.exp((nll * valid.flatten()).sum().item() / valid.sum().item())


def check_sequence_perplexity(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], float]) -> None:
    """``fn(logits (B, T, V), ids (B, T), mask (B, T) bool)`` -> perplexity of the valid next-token targets.

    Position t of ``logits`` predicts ``ids[:, t + 1]``; a target counts when its own position is valid.
    """
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 9, 23, generator=g)
    ids = torch.randint(0, 23, (3, 9), generator=g)
    padded = torch.ones(3, 9, dtype=torch.bool)
    padded[1, 5:] = False                                                  # a padded tail
    padded[2, 1:] = False                                                  # a row with no target at all
    best = torch.randint(0, 11, (2, 6, 1), generator=g)
    sharp = 0.1 * torch.randn(2, 6, 11, generator=g).scatter(-1, best, 150.0)   # one logit far above the rest
    sharp_ids = torch.cat([best[:, :1, 0], best[:, :-1, 0]], dim=1)       # each target the predicted token...
    sharp_ids[0, 3] = (sharp_ids[0, 3] + 1) % 11                          # ...but one: its softmax underflows
    cases = [("no padding", logits, ids, torch.ones(3, 9, dtype=torch.bool)),
             ("padded rows", logits, ids, padded),
             ("large logits", sharp, sharp_ids, torch.ones(2, 6, dtype=torch.bool))]
    for name, z, y, m in cases:
        want = _reference_perplexity(z, y, m)
        got = float(fn(z.clone(), y.clone(), m.clone()))
        if math.isfinite(got) and abs(got - want) <= 1e-4 * want:
            continue
        unshifted = math.exp(F.cross_entropy(z.flatten(0, 1).double(), y.flatten(), reduction="none")[
            m.flatten()].mean().item())
        if not math.isfinite(got):
            hint = "the result is not finite: use log_softmax (or F.cross_entropy), not log(softmax)"
        elif abs(got - unshifted) <= 1e-4 * unshifted:
            hint = "position t predicts the *next* token: compare logits[:, :-1] with ids[:, 1:]"
        elif name == "padded rows":
            hint = "padded targets must not count: average over mask[:, 1:] only"
        else:
            hint = "perplexity is exp of the mean next-token cross-entropy in nats"
        raise AssertionError(f"{name}: got perplexity {got:.4g}, expected {want:.4g}: {hint}")
    passed(f"sequence perplexity matches the shifted, masked cross-entropy on {len(cases)} cases")
