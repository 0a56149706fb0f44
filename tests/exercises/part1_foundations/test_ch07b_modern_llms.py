"""The exercise checkers of Part I chapter 7b accept a correct answer and reject wrong ones."""

from __future__ import annotations

import pytest
import torch

from book.exercises.part1_foundations import ch07b_modern_llms as ex
from book.nn.layers import apply_rope


def test_checkers_accept_correct_answers(capsys):
    ex.check_collapsed_aux_loss(lambda n_experts, top_k: n_experts / top_k)
    ex.check_rope_rotate_half(ex.rope_rotate_half_reference)
    ex.check_response_logprob(ex.response_logprob_reference)
    assert capsys.readouterr().out.count("✓") == 3


def test_collapsed_aux_loss_rejects_wrong_predictions():
    with pytest.raises(AssertionError, match="Hint"):
        ex.check_collapsed_aux_loss(lambda n_experts, top_k: 1.0)          # the balanced value
    with pytest.raises(AssertionError, match="Hint"):
        ex.check_collapsed_aux_loss(lambda n_experts, top_k: n_experts)     # forgets the k slots per token


def test_collapsed_router_really_is_collapsed():
    assert ex.collapsed_aux_loss_measured(4, 2) == pytest.approx(2.0, rel=1e-6)
    assert ex.collapsed_aux_loss_measured(3, 3) == pytest.approx(1.0, rel=1e-6)


def test_rope_rotate_half_rejects_the_interleaved_layout():
    with pytest.raises(AssertionError, match="Hint"):
        ex.check_rope_rotate_half(apply_rope)
    with pytest.raises(AssertionError, match="same shape"):
        ex.check_rope_rotate_half(lambda x, cos, sin: x[..., : x.shape[-1] // 2])


def test_response_logprob_rejects_wrong_answers():
    def unstable(logits, targets, mask):   # log of softmax: −inf for tiny probabilities
        p = torch.exp(logits) / torch.exp(logits).sum(-1, keepdim=True)
        tok = torch.log(p).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        return (tok * mask).sum(-1)

    def unmasked(logits, targets, mask):   # counts prompt and padding positions too
        return torch.log_softmax(logits, -1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1).sum(-1)

    def detached(logits, targets, mask):
        return ex.response_logprob_reference(logits, targets, mask).detach()

    with pytest.raises(AssertionError, match="inf or NaN"):
        ex.check_response_logprob(unstable)
    with pytest.raises(AssertionError):
        ex.check_response_logprob(unmasked)
    with pytest.raises(AssertionError, match="differentiable"):
        ex.check_response_logprob(detached)
