"""Repeated random token sequences: the in-context learning probe.

Each sequence is ``L`` uniformly random tokens followed by the same ``L``
tokens again. The first half is unpredictable (loss ≈ ln V); a model that has
learned to copy from context (an *induction head*) predicts the second half
almost perfectly. Used in p1-7.1.
"""

from __future__ import annotations

import torch


def repeated_tokens(batch: int, length: int, vocab_size: int, seed: int = 0,
                    bos: int | None = None) -> torch.Tensor:
    """(batch, 2·length) int64 tokens, or (batch, 2·length + 1) with a ``bos`` token first.

    >>> x = repeated_tokens(2, 5, 50)
    >>> x.shape, bool((x[:, :5] == x[:, 5:]).all())
    (torch.Size([2, 10]), True)
    """
    if batch < 1 or length < 1 or vocab_size < 2:
        raise ValueError(f"need batch >= 1, length >= 1, vocab_size >= 2; got {batch}, {length}, {vocab_size}")
    if bos is not None and not 0 <= bos < vocab_size:
        raise ValueError(f"bos token {bos} outside the vocabulary [0, {vocab_size})")
    g = torch.Generator().manual_seed(seed)
    high = vocab_size if bos is None else vocab_size - 1
    half = torch.randint(0, high, (batch, length), generator=g)
    if bos is not None:
        half = half + (half >= bos).long()  # skip the bos id so it only appears first
    seq = torch.cat([half, half], dim=1)
    if bos is not None:
        seq = torch.cat([torch.full((batch, 1), bos, dtype=torch.long), seq], dim=1)
    return seq
