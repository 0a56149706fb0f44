"""The chapter 4 exercise checkers accept a correct answer and reject wrong ones."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from book.exercises.part1_foundations import ch04_before_transformers as ex4


def _conv2d_im2col(x, w, b, stride, padding):
    n, _, h, wd = x.shape
    c_out, _, kh, kw = w.shape
    h_out, w_out = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1
    cols = F.unfold(x, (kh, kw), padding=padding, stride=stride)          # (N, C·kh·kw, L)
    return (w.reshape(c_out, -1) @ cols + b[:, None]).reshape(n, c_out, h_out, w_out)


def _gru(x, h, W_ih, W_hh, b_ih, b_hh, swap_update=False):
    gi, gh = x @ W_ih.T + b_ih, h @ W_hh.T + b_hh
    i_r, i_z, i_n = gi.chunk(3, dim=1)
    h_r, h_z, h_n = gh.chunk(3, dim=1)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return z * n + (1 - z) * h if swap_update else (1 - z) * n + z * h


def test_chapter4_checkers_accept_correct_answers(capsys):
    ex4.check_default_init_factor(1 / 6)
    ex4.check_he_std(ex4.he_std_reference)
    ex4.check_conv2d(_conv2d_im2col)
    ex4.check_gru_cell(_gru)
    assert capsys.readouterr().out.count("✓") == 4


def test_chapter4_checkers_reject_wrong_answers():
    with pytest.raises(AssertionError, match="Hint"):
        ex4.check_default_init_factor(1 / 3)          # forgot that ReLU halves the second moment
    with pytest.raises(AssertionError, match="Hint"):
        ex4.check_he_std(lambda fan_in, a: math.sqrt(2 / fan_in))   # ignores the leaky slope
    with pytest.raises(AssertionError):               # a true convolution flips the kernel
        ex4.check_conv2d(lambda x, w, b, s, p: _conv2d_im2col(x, w.flip(-1, -2), b, s, p))
    with pytest.raises(AssertionError, match="shape"):  # forgot the padding
        ex4.check_conv2d(lambda x, w, b, s, p: _conv2d_im2col(x, w, b, s, 0))
    with pytest.raises(AssertionError, match="Hint"):
        ex4.check_gru_cell(lambda *args: _gru(*args, swap_update=True))
