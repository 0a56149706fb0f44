"""The p4-3 exercise checkers accept correct answers and reject typical mistakes, naming them."""

from __future__ import annotations

import pytest
import torch

from book.exercises.part4_cookbook import ch03_lstm_char_model as ex


def _params(e, h, layers):
    return sum(4 * h * ((e if k == 0 else h) + h) + 8 * h for k in range(layers))


def test_lstm_parameters_accepts_closed_form_and_names_the_slip(capsys):
    ex.check_lstm_parameters(_params)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="two bias vectors"):
        ex.check_lstm_parameters(lambda e, h, n: _params(e, h, n) - 4 * h * n)
    with pytest.raises(AssertionError, match="input size is hidden_size"):
        ex.check_lstm_parameters(lambda e, h, n: n * (4 * h * (e + h) + 8 * h))
    with pytest.raises(AssertionError, match="four gates"):
        ex.check_lstm_parameters(lambda e, h, n: _params(e, h, n) // 4)
    with pytest.raises(AssertionError, match=r"4·H·\(E_in \+ H\)"):
        ex.check_lstm_parameters(lambda e, h, n: _params(e, h, n) + 1)


def _split(x, h, w_ih, w_hh, b_ih, b_hh):
    return (x @ w_ih.T + b_ih).chunk(3, 1), (h @ w_hh.T + b_hh).chunk(3, 1)


def _gru(x, h, *w):
    (xr, xz, xn), (hr, hz, hn) = _split(x, h, *w)
    r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
    return (1 - z) * torch.tanh(xn + r * hn) + z * h


def test_gru_cell_accepts_reference_and_names_the_slip(capsys):
    ex.check_gru_cell(_gru)
    assert "✓" in capsys.readouterr().out

    def swapped(x, h, *w):
        (xr, xz, xn), (hr, hz, hn) = _split(x, h, *w)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        return z * torch.tanh(xn + r * hn) + (1 - z) * h

    def reset_everything(x, h, *w):
        (xr, xz, xn), (hr, hz, hn) = _split(x, h, *w)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        return (1 - z) * torch.tanh(r * (xn + hn)) + z * h

    def bias_outside(x, h, w_ih, w_hh, b_ih, b_hh):
        (xr, xz, xn), (hr, hz, hn) = _split(x, h, w_ih, w_hh, b_ih, b_hh)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        b_hn = b_hh.chunk(3)[2]
        return (1 - z) * torch.tanh(xn + r * (hn - b_hn) + b_hn) + z * h

    def wrong_order(x, h, *w):
        (xz, xr, xn), (hz, hr, hn) = _split(x, h, *w)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        return (1 - z) * torch.tanh(xn + r * hn) + z * h

    for fn, hint in ((swapped, r"\(1 − z\)·n \+ z·h"), (reset_everything, "only the hidden part"),
                     (bias_outside, "b_hn belongs inside"), (wrong_order, "r \\| z \\| n")):
        with pytest.raises(AssertionError, match=hint):
            ex.check_gru_cell(fn)
    with pytest.raises(AssertionError, match="shape"):
        ex.check_gru_cell(lambda x, h, *w: _gru(x, h, *w)[:, :1])
