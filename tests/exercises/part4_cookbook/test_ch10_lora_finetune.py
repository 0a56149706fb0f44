"""The p4-10 exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from book.exercises.part4_cookbook import ch10_lora_finetune as ex
from book.nn.gpt import GPT


def _count(cfg, r, targets):
    return sum(r * (m.in_features + m.out_features) for n, m in GPT(cfg).named_modules()
               if isinstance(m, nn.Linear) and n.rsplit(".", 1)[-1] in targets)


def test_lora_count_accepts_closed_form_and_names_the_slip(capsys):
    ex.check_lora_count(_count)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="size of the adapted matrices"):
        ex.check_lora_count(lambda c, r, t: sum(m.in_features * m.out_features for n, m in GPT(c).named_modules()
                                                if isinstance(m, nn.Linear) and n.rsplit(".", 1)[-1] in t))
    with pytest.raises(AssertionError, match="expected"):
        ex.check_lora_count(lambda c, r, t: _count(c, r, t) + 1)


def test_lora_count_hints_at_each_block():
    d = 64
    with pytest.raises(AssertionError, match="blocks has its own"):
        ex.check_lora_count(lambda c, r, t: r * ((d + d) + (d + 2 * d) + (d + d)))   # one block only


def _merge(W, A, B, alpha, r):
    return W + (alpha / r) * (B @ A)


def test_merge_accepts_reference_and_rejects_slips(capsys):
    ex.check_merge(_merge)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="scaled by α/r"):
        ex.check_merge(lambda W, A, B, a, r: W + B @ A)
    with pytest.raises(AssertionError, match="not α"):
        ex.check_merge(lambda W, A, B, a, r: W + a * (B @ A))
    with pytest.raises(AssertionError, match="in place"):
        ex.check_merge(lambda W, A, B, a, r: W.add_((a / r) * (B @ A)))
    with pytest.raises(AssertionError, match=r"\(d_out, r\)"):
        ex.check_merge(lambda W, A, B, a, r: W.T + (a / r) * (A.T @ B.T))


def test_rank_stable_scaling_accepts_sqrt_and_rejects_alpha_over_r(capsys):
    ex.check_rank_stable_scaling(lambda a, r: a / math.sqrt(r))
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="shrinks"):
        ex.check_rank_stable_scaling(lambda a, r: a / r)
    with pytest.raises(AssertionError, match="grows"):
        ex.check_rank_stable_scaling(lambda a, r: a)
    with pytest.raises(AssertionError, match="r = 1"):
        ex.check_rank_stable_scaling(lambda a, r: 2 * a / math.sqrt(r))


def test_first_step_update_is_deterministic():
    assert ex.first_step_update(4.0, 4) == ex.first_step_update(4.0, 4)
    assert ex.first_step_update(4.0, 4) > 0 and torch.get_default_dtype() == torch.float32
