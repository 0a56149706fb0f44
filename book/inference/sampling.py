"""Turning next-token logits into a choice: greedy, temperature, top-k, top-p (nucleus).

Each transform maps logits (…, V) to filtered logits; :func:`sample` draws
from their softmax. Taught in p2-v-sampling.

>>> import torch
>>> top_k_filter(torch.tensor([1.0, 3.0, 2.0]), 2).tolist()
[-inf, 3.0, 2.0]
"""

from __future__ import annotations

import torch


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """logits / T: T < 1 sharpens the distribution, T > 1 flattens it (T > 0).

    T = 0 has no distribution (its limit is the argmax): :func:`sample` treats
    it as greedy decoding; here it is an error.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0 here, got {temperature}; "
                         "sample(logits, temperature=0) decodes greedily")
    return logits / temperature


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits of each row (ties at the k-th value are kept), set the rest to −inf."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    k = min(k, logits.shape[-1])
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep the smallest set of top tokens whose probabilities sum to ≥ p (always at least one)."""
    if not 0.0 < p <= 1.0:
        raise ValueError(f"p must be in (0, 1], got {p}")
    sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
    probs = torch.softmax(sorted_logits, dim=-1)
    before = torch.cumsum(probs, dim=-1) - probs          # mass strictly before each token
    drop_sorted = before >= p                              # the first token always has 0 before it
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def greedy(logits: torch.Tensor) -> torch.Tensor:
    """The most likely token of each row: (…, V) → (…,)."""
    return logits.argmax(dim=-1)


def probabilities(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> torch.Tensor:
    """The distribution :func:`sample` draws from: (…, V) logits → (…, V) probabilities.

    Temperature, then top-k, then top-p, then the softmax; ``temperature == 0``
    gives the one-hot distribution of the argmax (greedy decoding). Speculative
    decoding (p3-viii) compares these distributions between draft and target.
    """
    if temperature == 0:
        return torch.nn.functional.one_hot(greedy(logits), logits.shape[-1]).to(logits.dtype)
    z = apply_temperature(logits, temperature)
    if top_k is not None:
        z = top_k_filter(z, top_k)
    if top_p is not None:
        z = top_p_filter(z, top_p)
    return torch.softmax(z, dim=-1)


def sample(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw one token per row after temperature, top-k and top-p filtering (in that order): (…, V) → (…,).

    ``temperature == 0`` is greedy decoding, the T → 0 limit (the convention of
    the OpenAI API and of vLLM); top-k and top-p cannot change the argmax, so
    they are not applied then. This is the one sampling rule of the book:
    ``GPT.generate`` and the serving engine call it.

    >>> sample(torch.tensor([[0.0, 2.0, 1.0]]), temperature=0).tolist()
    [1]
    """
    if temperature == 0:
        return greedy(logits)
    probs = probabilities(logits, temperature, top_k, top_p)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])
