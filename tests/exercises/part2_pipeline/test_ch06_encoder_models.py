"""The exercise checkers of Part II chapter VI accept a correct answer and reject wrong ones."""

from __future__ import annotations

import pytest
import torch

from book.exercises.part2_pipeline import ch06_encoder_models as ex


@torch.no_grad()
def _pll_vectorised(model, idx, mask_id, special):
    b, t = idx.shape
    copies = idx.repeat_interleave(t, dim=0)
    pos = torch.arange(t).repeat(b)
    copies[torch.arange(b * t), pos] = mask_id
    logp = torch.log_softmax(model.mlm_head(model.encode(copies)), dim=-1)
    picked = logp[torch.arange(b * t), pos, idx.reshape(-1)].view(b, t)
    return picked.masked_fill(special, 0.0).sum(1)


def test_checkers_accept_correct_answers(capsys):
    ex.check_mask_fractions(ex.mask_fractions_reference)
    ex.check_mask_fractions(lambda p, v: [p * (0.8 * v + 0.1) / v, p * 0.1 * (1 - 2 / v), p * (0.1 * v + 0.1) / v])
    ex.check_pseudo_log_likelihood(_pll_vectorised)
    ex.check_pseudo_log_likelihood(ex.pseudo_log_likelihood_reference)
    assert capsys.readouterr().out.count("✓") == 4


def test_mask_fractions_rejects_the_naive_80_10_10():
    with pytest.raises(AssertionError, match="Hint"):
        ex.check_mask_fractions(lambda p, v: (0.8 * p, 0.1 * p, 0.1 * p))       # ignores collisions of the random tenth
    with pytest.raises(AssertionError, match="Hint"):
        # among the chosen positions, not all positions
        ex.check_mask_fractions(lambda p, v: (0.8, 0.1 * (v - 2) / v, 0.1 + 0.1 / v))
    with pytest.raises(AssertionError, match="three"):
        ex.check_mask_fractions(lambda p, v: (0.8 * p, 0.2 * p))


def test_pseudo_log_likelihood_rejects_wrong_scores():
    @torch.no_grad()
    def without_masking(model, idx, mask_id, special):
        logp = torch.log_softmax(model.mlm_head(model.encode(idx)), -1).gather(2, idx[..., None])[..., 0]
        return logp.masked_fill(special, 0.0).sum(1)

    @torch.no_grad()
    def counts_special_positions(model, idx, mask_id, special):
        return _pll_vectorised(model, idx, mask_id, torch.zeros_like(special))

    with pytest.raises(AssertionError, match="unmasked"):
        ex.check_pseudo_log_likelihood(without_masking)
    with pytest.raises(AssertionError, match="pseudo-log-likelihood"):
        ex.check_pseudo_log_likelihood(counts_special_positions)
    with pytest.raises(AssertionError, match="shape"):
        ex.check_pseudo_log_likelihood(lambda model, idx, mask_id, special: _pll_vectorised(
            model, idx, mask_id, special)[:, None])
