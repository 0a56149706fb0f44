"""Sampling filters and the tiny BERT."""

from __future__ import annotations

import pytest
import torch

from book.checks import assert_close
from book.inference.sampling import apply_temperature, greedy, sample, top_k_filter, top_p_filter
from book.nn.bert import Bert, BertConfig, mask_tokens


def test_top_p_keeps_the_smallest_covering_set():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    kept = torch.isfinite(top_p_filter(logits, 0.75))
    assert kept.tolist() == [True, True, False, False]
    assert torch.isfinite(top_p_filter(logits, 0.01)).sum() == 1       # at least the top token
    assert torch.isfinite(top_p_filter(logits, 1.0)).all()


def test_filters_on_batches_and_errors():
    z = torch.randn(5, 7, 11)
    assert (torch.isfinite(top_k_filter(z, 3)).sum(-1) == 3).all()
    assert torch.equal(greedy(z), z.argmax(-1))
    assert_close(torch.softmax(apply_temperature(z, 1.0), -1), torch.softmax(z, -1))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        apply_temperature(z, 0.0)
    # temperature 0 is greedy decoding, whatever the filters and the generator
    assert torch.equal(sample(z, temperature=0, top_k=1, top_p=0.5), greedy(z))
    with pytest.raises(ValueError, match=r"p must be in \(0, 1\]"):
        top_p_filter(z, 1.5)


def test_sampling_frequencies_follow_the_filtered_distribution():
    logits = torch.log(torch.tensor([0.6, 0.3, 0.1]))
    g = torch.Generator().manual_seed(0)
    draws = sample(logits.expand(20000, 3), top_k=2, generator=g)
    freq = torch.bincount(draws, minlength=3).float() / 20000
    assert freq[2] == 0 and abs(freq[0] - 2 / 3) < 0.02


def test_bert_is_bidirectional_and_heads_have_the_right_shapes():
    torch.manual_seed(0)
    model = Bert(BertConfig(vocab_size=30, max_len=12)).double().eval()
    x = torch.randint(0, 30, (2, 12))
    h = model.encode(x)
    x2 = x.clone()
    x2[:, -1] = (x2[:, -1] + 1) % 30
    assert (model.encode(x2)[:, 0] - h[:, 0]).abs().max() > 1e-6      # the first token sees the last
    assert model.classify(x).shape == (2, 2)
    inputs, labels = mask_tokens(x, mask_id=1, vocab_size=30, p=0.5, generator=torch.Generator().manual_seed(0))
    assert ((labels == -100) | (labels == x)).all()
    assert model.mlm_loss(inputs, labels).item() > 0
    with pytest.raises(ValueError, match="max_len=12"):
        model.encode(torch.zeros(1, 13, dtype=torch.long))


def test_mask_tokens_follows_the_80_10_10_rule():
    x = torch.randint(5, 100, (200, 100))
    special = torch.zeros_like(x, dtype=torch.bool)
    special[:, 0] = True
    inputs, labels = mask_tokens(x, 1, 100, special=special, generator=torch.Generator().manual_seed(1))
    chosen = labels != -100
    assert not chosen[:, 0].any() and abs(chosen.float().mean().item() - 0.15 * 0.99) < 0.01
    assert abs((inputs[chosen] == 1).float().mean().item() - 0.8) < 0.02
    assert abs((inputs[chosen] == x[chosen]).float().mean().item() - 0.1) < 0.02
