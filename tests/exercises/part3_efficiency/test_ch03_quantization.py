"""The Part III §III (quantization) exercise checkers accept correct answers and reject wrong ones."""

from __future__ import annotations

import pytest
import torch

from book.exercises.part3_efficiency import ch03_quantization as ex
from book.quant import gptq


def _bits_per_weight(bits, group_size, scale_bits, zero_bits=0):
    return bits + (scale_bits + zero_bits) / group_size


def _act_order(w, h, bits):
    perm = torch.argsort(torch.diag(h), descending=True, stable=True)
    res = gptq.gptq_quantize(w[:, perm], h[perm][:, perm], bits=bits)
    return res.w_hat[:, torch.argsort(perm)]


def _fp16_bytes(d):
    return d.to(torch.float16).view(torch.uint8)


def _quantize_q4_1(w, order="halves"):
    x = w.float().reshape(-1, 32)
    lo, hi = x.amin(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)
    d = (hi - lo) / 15
    inv = torch.where(d == 0, torch.zeros_like(d), 1 / d)
    q = torch.trunc((x - lo) * inv + 0.5).clamp(0, 15).to(torch.uint8)
    nibbles = q[:, :16] | (q[:, 16:] << 4) if order == "halves" else q[:, 0::2] | (q[:, 1::2] << 4)
    return torch.cat([_fp16_bytes(d), _fp16_bytes(lo), nibbles], dim=1).reshape(w.shape[0], -1)


def _dequantize_q4_1(data):
    blocks = data.reshape(-1, 20)
    d = blocks[:, 0:2].contiguous().view(torch.float16).float()
    m = blocks[:, 2:4].contiguous().view(torch.float16).float()
    q = torch.cat([blocks[:, 4:] & 0xF, blocks[:, 4:] >> 4], dim=1).float()
    return (d * q + m).reshape(data.shape[0], -1)


def _int8_decomposition(x, w, threshold, split=True):
    outlier = (x.abs() >= threshold).any(dim=0) if split else torch.zeros(x.shape[1], dtype=torch.bool)
    y = x[:, outlier] @ w[:, outlier].T
    xr, wr = x[:, ~outlier], w[:, ~outlier]
    sx = xr.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127
    sw = wr.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127
    qx, qw = torch.round(xr / sx), torch.round(wr / sw)
    return y + (qx @ qw.T) * sx * sw.T


def test_checkers_accept_correct_answers(capsys):
    ex.check_bits_per_weight(_bits_per_weight)
    ex.check_act_order(_act_order)
    ex.check_q4_1(_quantize_q4_1, _dequantize_q4_1)
    ex.check_int8_decomposition(_int8_decomposition)
    assert capsys.readouterr().out.count("✓") == 4


def test_checkers_reject_wrong_answers():
    with pytest.raises(AssertionError, match="Hint"):                  # forgot the zero point's bits
        ex.check_bits_per_weight(lambda b, g, s, z=0: b + s / g)
    with pytest.raises(AssertionError, match="plain GPTQ in column order"):
        ex.check_act_order(lambda w, h, bits: gptq.gptq_quantize(w, h, bits).w_hat)
    with pytest.raises(AssertionError, match="Hint"):                  # permutation not undone
        ex.check_act_order(lambda w, h, bits: _act_order(w, h, bits)[:, torch.argsort(
            torch.argsort(torch.diag(h), descending=True, stable=True))])
    with pytest.raises(AssertionError, match="nibbles"):               # the book's INT4 nibble order, not ggml's
        ex.check_q4_1(lambda w: _quantize_q4_1(w, order="interleaved"), _dequantize_q4_1)
    with pytest.raises(AssertionError, match="Hint"):                  # codes from values 0.1% off
        ex.check_q4_1(lambda w: _quantize_q4_1(w * (1 + 1e-3)), _dequantize_q4_1)
    with pytest.raises(AssertionError, match="Hint"):                  # dequantisation ignores the minimum
        ex.check_q4_1(_quantize_q4_1, lambda data: _dequantize_q4_1(data) - _dequantize_q4_1(data).amin())
    with pytest.raises(AssertionError, match="Hint"):                  # no decomposition at all
        ex.check_int8_decomposition(lambda x, w, t: _int8_decomposition(x, w, t, split=False))
    with pytest.raises(AssertionError, match="shape"):
        ex.check_int8_decomposition(lambda x, w, t: _int8_decomposition(x, w, t).T)
