"""The p4-5 exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import pytest
import torch

from book.exercises.part4_cookbook import ch05_transformer_seq2seq as ex


def _teacher_forcing(tgt, bos, eos, pad):
    dec = torch.cat([torch.full_like(tgt[:, :1], bos), tgt], dim=1)
    lab = torch.cat([tgt, torch.full_like(tgt[:, :1], pad)], dim=1)
    lab[torch.arange(len(tgt)), (tgt != pad).sum(1)] = eos
    return dec, lab


def test_teacher_forcing_accepts_reference_and_names_slips(capsys):
    ex.check_teacher_forcing(_teacher_forcing)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="swapped"):
        ex.check_teacher_forcing(lambda t, b, e, p: _teacher_forcing(t, b, e, p)[::-1])

    def eos_last(t, b, e, p):
        dec, lab = _teacher_forcing(t, b, e, p)
        lab = torch.cat([t, torch.full_like(t[:, :1], e)], dim=1)
        return dec, lab
    with pytest.raises(AssertionError, match="not in the last column"):
        ex.check_teacher_forcing(eos_last)
    with pytest.raises(AssertionError, match="BOS"):
        ex.check_teacher_forcing(lambda t, b, e, p: (torch.cat([t, t[:, :1]], 1), _teacher_forcing(t, b, e, p)[1]))
    with pytest.raises(AssertionError, match=r"\(5, 7\)"):
        ex.check_teacher_forcing(lambda t, b, e, p: (t, t))


def _split(mha):
    return (*mha.in_proj_weight.chunk(3), *mha.in_proj_bias.chunk(3))


def test_split_qkv_accepts_chunk_and_names_slips(capsys):
    ex.check_split_qkv(_split)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="wrong order"):
        ex.check_split_qkv(lambda m: (*m.in_proj_weight.chunk(3)[::-1], *m.in_proj_bias.chunk(3)[::-1]))
    with pytest.raises(AssertionError, match="transposed"):
        ex.check_split_qkv(lambda m: (*(w.T for w in m.in_proj_weight.chunk(3)), *m.in_proj_bias.chunk(3)))
    with pytest.raises(AssertionError, match="biases"):
        ex.check_split_qkv(lambda m: (*m.in_proj_weight.chunk(3), *(torch.zeros(12),) * 3))
    with pytest.raises(AssertionError, match="six tensors"):
        ex.check_split_qkv(lambda m: m.in_proj_weight.chunk(3))


def _exact(pred, labels, eos):
    is_eos = (labels == eos).long()
    counted = (is_eos.cumsum(1) - is_eos) == 0
    return ((pred == labels) | ~counted).all(1).float().mean().item()


def test_exact_match_accepts_reference_and_names_slips(capsys):
    ex.check_exact_match(_exact)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="whole rows"):
        ex.check_exact_match(lambda p, lab, e: (p == lab).all(1).float().mean().item())
    with pytest.raises(AssertionError, match="token accuracy"):
        ex.check_exact_match(lambda p, lab, e: (p == lab)[lab != 0].float().mean().item())
    with pytest.raises(AssertionError, match="up to and including"):
        ex.check_exact_match(lambda p, lab, e: 0.1)
