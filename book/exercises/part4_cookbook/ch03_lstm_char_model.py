"""Exercise checkers for p4-3 (the LSTM character model recipe).

References: the parameter count of a real ``nn.LSTM``, and ``nn.GRU`` itself,
run on awkward sizes (hidden 1, a batch of one, odd widths) with a random
initial state.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from book.exercises import passed


def check_lstm_parameters(fn: Callable[[int, int, int], int]) -> None:
    """``fn(input_size, hidden_size, num_layers)`` -> the number of parameters of ``nn.LSTM``."""
    cases = [(32, 128, 1), (32, 128, 2), (1, 1, 1), (7, 13, 3), (300, 64, 4)]
    for e, h, layers in cases:
        want = sum(p.numel() for p in nn.LSTM(e, h, num_layers=layers).parameters())
        got = fn(e, h, layers)
        if got == want:
            continue
        one_bias = want - 4 * h * layers
        same_input = layers * (4 * h * (e + h) + 8 * h)
        if got == one_bias:
            hint = "nn.LSTM keeps two bias vectors per layer, bias_ih and bias_hh, of 4·hidden_size each"
        elif got == same_input and layers > 1:
            hint = "layers after the first read the hidden state below them: their input size is hidden_size"
        elif got == want // 4 or got == (want - 8 * h * layers) // 4 + 2 * h * layers:
            hint = "there are four gates (i, f, g, o), each with its own weights: multiply by 4"
        else:
            hint = "a layer has 4·H·(E_in + H) weights and 2·4·H biases"
        raise AssertionError(f"lstm_parameters({e}, {h}, {layers}) returned {got}, expected {want}: {hint}")
    passed(f"parameter counts match nn.LSTM on {len(cases)} configurations, up to 4 layers")


def check_gru_cell(fn: Callable[..., torch.Tensor]) -> None:
    """``fn(x, h, w_ih, w_hh, b_ih, b_hh)`` -> the next hidden state of one ``nn.GRU`` step."""
    g = torch.Generator().manual_seed(0)
    for batch, e, h, t in [(3, 5, 7, 11), (1, 1, 1, 4), (8, 13, 37, 6)]:
        gru = nn.GRU(e, h, batch_first=True).double()
        x = torch.randn(batch, t, e, generator=g, dtype=torch.float64)
        h0 = torch.randn(1, batch, h, generator=g, dtype=torch.float64)
        with torch.no_grad():
            want, _ = gru(x, h0)                                   # (B, T, H)
            state, outs = h0[0], []
            for step in range(t):
                state = fn(x[:, step], state, gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)
                if not isinstance(state, torch.Tensor) or tuple(state.shape) != (batch, h):
                    raise AssertionError(f"gru_cell must return the new hidden state of shape ({batch}, {h}), "
                                         f"got {tuple(getattr(state, 'shape', ()))}")
                outs.append(state)
            got = torch.stack(outs, 1)
        err = (got - want).abs().max().item()
        if err < 1e-10:
            continue
        wi, wh, bi, bh = gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0
        with torch.no_grad():
            xr, xz, xn = (x[:, 0] @ wi.T + bi).chunk(3, 1)
            hr, hz, hn = (h0[0] @ wh.T + bh).chunk(3, 1)
            r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
            b_hn = bh.chunk(3)[2]
            bias_outside = (1 - z) * torch.tanh(xn + r * (hn - b_hn) + b_hn) + z * h0[0]
            swapped = z * torch.tanh(xn + r * hn) + (1 - z) * h0[0]
            fused_all = (1 - z) * torch.tanh(r * (xn + hn)) + z * h0[0]
        first = outs[0]
        if torch.allclose(first, swapped):
            hint = "h' = (1 − z)·n + z·h: z keeps the old state, 1 − z takes the new one"
        elif torch.allclose(first, fused_all):
            hint = "the reset gate multiplies only the hidden part W_hn·h + b_hn, not the input part"
        elif torch.allclose(first, bias_outside):
            hint = "the bias b_hn belongs inside the reset gate's product: r ⊙ (W_hn·h + b_hn)"
        else:
            hint = "the gates are stacked in nn.GRU's order r | z | n, in w_ih, w_hh and both biases"
        raise AssertionError(f"gru_cell differs from nn.GRU by up to {err:.2g} (B={batch}, E={e}, H={h}, "
                             f"T={t}): {hint}")
    passed("a loop of gru_cell equals nn.GRU on 3 sizes, hidden size 1 and a batch of one included")
