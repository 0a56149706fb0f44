"""The shared checkers (book.exercises.shared) accept correct answers and reject the usual mistakes."""

from __future__ import annotations

import math

import pytest
import torch

from book.exercises import shared
from book.exercises.part1_foundations import ch06_attention
from book.exercises.part2_pipeline import ch06_encoder_models


def _broadcast(keep, q):
    return keep.reshape(keep.shape[0], *([1] * (q.dim() - 2)), keep.shape[-1])


def _padded(q, k, v, keep):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    w = torch.softmax(scores.masked_fill(~_broadcast(keep, q), float("-inf")), dim=-1)
    return w @ v, w


def test_both_chapters_use_the_one_checker():
    assert ch06_attention.check_padded_attention is shared.check_padded_attention
    assert ch06_encoder_models.check_padded_attention is shared.check_padded_attention


def test_padded_attention_accepts_correct_answers(capsys):
    shared.check_padded_attention(_padded)
    shared.check_padded_attention(shared.padded_attention_reference)
    assert capsys.readouterr().out.count("✓") == 2


def test_padded_attention_rejects_wrong_answers():
    def no_mask(q, k, v, keep):
        w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
        return w @ v, w

    def inverted(q, k, v, keep):                       # treats True as padding
        return _padded(q, k, v, ~keep)

    def masks_queries(q, k, v, keep):
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        qmask = keep.reshape(keep.shape[0], *([1] * (q.dim() - 3)), keep.shape[-1], 1)[..., :q.shape[-2], :]
        w = torch.softmax(scores.masked_fill(~qmask, -1e9), dim=-1)
        return w @ v, w

    def zero_after_softmax(q, k, v, keep):             # masks without renormalising
        w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), -1) * _broadcast(keep, q)
        return w @ v, w

    def unscaled(q, k, v, keep):
        w = torch.softmax((q @ k.transpose(-2, -1)).masked_fill(~_broadcast(keep, q), float("-inf")), -1)
        return w @ v, w

    for wrong in (no_mask, inverted, masks_queries):
        with pytest.raises(AssertionError, match="padded keys still get weight"):
            shared.check_padded_attention(wrong)
    for wrong in (zero_after_softmax, unscaled):
        with pytest.raises(AssertionError, match="Hint"):
            shared.check_padded_attention(wrong)
    with pytest.raises(AssertionError, match=r"return \(output, weights\)"):
        shared.check_padded_attention(lambda q, k, v, keep: _padded(q, k, v, keep)[0])
    with pytest.raises(AssertionError, match="expected shapes"):
        shared.check_padded_attention(lambda q, k, v, keep: tuple(t[..., :1, :] for t in _padded(q, k, v, keep)))
