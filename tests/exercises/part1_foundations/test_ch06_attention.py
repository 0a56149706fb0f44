"""The chapter 6 exercise checkers accept correct answers and reject wrong ones."""

from __future__ import annotations

import math

import pytest
import torch

from book.exercises.part1_foundations import ch06_attention as ex6


def _shift_matrix(k, dim, base=10000.0):
    M = torch.zeros(dim, dim, dtype=torch.float64)
    for i in range(dim // 2):
        a = k * base ** (-2 * i / dim)
        M[2 * i, 2 * i], M[2 * i, 2 * i + 1] = math.cos(a), math.sin(a)
        M[2 * i + 1, 2 * i], M[2 * i + 1, 2 * i + 1] = -math.sin(a), math.cos(a)
    return M


def test_chapter6_checkers_accept_correct_answers(capsys):
    ex6.check_shift_matrix(_shift_matrix)
    ex6.check_shift_matrix(lambda k, dim: _shift_matrix(k, dim).numpy())   # NumPy arrays are fine too
    ex6.check_post_norm_block(ex6.post_norm_reference)
    assert capsys.readouterr().out.count("✓") == 3


def test_chapter6_checkers_reject_wrong_answers():
    with pytest.raises(AssertionError, match="Hint"):                       # rotation in the wrong direction
        ex6.check_shift_matrix(lambda k, dim: _shift_matrix(k, dim).T)
    with pytest.raises(AssertionError, match="Hint"):                       # forgets the offset
        ex6.check_shift_matrix(lambda k, dim: torch.eye(dim, dtype=torch.float64))
    with pytest.raises(AssertionError, match="shape"):
        ex6.check_shift_matrix(lambda k, dim: torch.eye(dim + 1))
    with pytest.raises(AssertionError, match="Hint"):                       # the pre-norm block instead
        ex6.check_post_norm_block(lambda blk, x: blk(x))
    with pytest.raises(AssertionError, match="Hint"):                       # norms on the wrong side
        ex6.check_post_norm_block(lambda blk, x: (lambda h: h + blk.mlp(blk.norm2(h)))(x + blk.attn(blk.norm1(x))))


def test_post_norm_checker_leaves_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    ex6.check_post_norm_block(ex6.post_norm_reference)
    assert torch.equal(torch.rand(3), expected)
