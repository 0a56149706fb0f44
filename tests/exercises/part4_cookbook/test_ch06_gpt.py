"""The p4-6 exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from book.exercises.part4_cookbook import ch06_gpt as ex


def _params(cfg, tied=None):
    c, v, t = cfg.d_model, cfg.vocab_size, cfg.block_size
    kv = 2 * (cfg.n_kv_head or cfg.n_head) * (c // cfg.n_head)
    b = 1 if cfg.bias else 0
    norm = 2 * c                   # LayerNorm keeps its bias even with bias=False
    attention = (c * c + b * c) + (c * kv + b * kv) + (c * c + b * c)
    block = 2 * norm + attention + (c * 4 * c + b * 4 * c) + (4 * c * c + b * c)
    tied = cfg.tie_embeddings if tied is None else tied
    return v * c + (t * c if cfg.positions == "learned" else 0) + cfg.n_layer * block + norm + (0 if tied else v * c)


def test_gpt_parameters_accepts_closed_form_and_names_the_slip(capsys):
    ex.check_gpt_parameters(_params)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="tied"):
        ex.check_gpt_parameters(lambda cfg: _params(cfg, tied=False))
    with pytest.raises(AssertionError, match="expected"):
        ex.check_gpt_parameters(lambda cfg: _params(cfg) + 1)
    with pytest.raises(AssertionError, match="LayerNorms keep"):
        ex.check_gpt_parameters(lambda cfg: _params(cfg) - (0 if cfg.bias else (2 * cfg.n_layer + 1) * cfg.d_model))


def _top_k(logits, k):
    k = min(k, logits.shape[-1])
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def test_top_k_accepts_reference_and_rejects_slips(capsys):
    ex.check_top_k_filter(_top_k)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="min"):
        ex.check_top_k_filter(lambda z, k: z.masked_fill(z < torch.topk(z, k, dim=-1).values[..., -1:], -torch.inf))
    with pytest.raises(AssertionError, match="tie"):
        def strict(z, k):
            k = min(k, z.shape[-1])
            keep = torch.zeros_like(z, dtype=torch.bool).scatter(-1, torch.topk(z, k, dim=-1).indices, True)
            return z.masked_fill(~keep, float("-inf"))
        ex.check_top_k_filter(strict)
    with pytest.raises(AssertionError, match="-inf"):
        ex.check_top_k_filter(lambda z, k: torch.softmax(_top_k(z, k), -1))


def _ppl(logits, ids, mask):
    nll = F.cross_entropy(logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten(), reduction="none")
    valid = mask[:, 1:].flatten()
    return torch.exp(nll[valid].mean()).item()


def test_sequence_perplexity_accepts_reference_and_rejects_slips(capsys):
    ex.check_sequence_perplexity(_ppl)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="next"):
        def unshifted(z, y, m):
            nll = F.cross_entropy(z.flatten(0, 1), y.flatten(), reduction="none")
            return torch.exp(nll[m.flatten()].mean()).item()
        ex.check_sequence_perplexity(unshifted)
    with pytest.raises(AssertionError, match="mask"):
        ex.check_sequence_perplexity(lambda z, y, m: _ppl(z, y, torch.ones_like(m)))
    with pytest.raises(AssertionError, match="exp of the mean"):
        ex.check_sequence_perplexity(lambda z, y, m: 1 + _ppl(z, y, m))
    with pytest.raises(AssertionError, match="not finite"):
        ex.check_sequence_perplexity(lambda z, y, m: float("nan"))
