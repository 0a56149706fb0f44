"""The Part III §II (LoRA) exercise checkers accept correct answers and reject wrong ones."""

from __future__ import annotations

import math

import pytest
import torch

from book.exercises.part3_efficiency import ch02_lora as ex

# NF4's 16 values as published with QLoRA (bitsandbytes' NF4 table, rounded to 4 decimals).
NF4_PUBLISHED = [-1.0, -0.6962, -0.5251, -0.3949, -0.2844, -0.1848, -0.0911, 0.0,
                 0.0796, 0.1609, 0.2461, 0.3379, 0.4407, 0.5626, 0.7230, 1.0]


def _grads(x, A, B, grad_h, scale):
    x2, g2 = x.reshape(-1, x.shape[-1]), grad_h.reshape(-1, grad_h.shape[-1])
    return scale * (B.T @ g2.T) @ x2, scale * g2.T @ (x2 @ A.T)


def _swap(layer, old, new):
    if new.lora_B.shape[0] != layer.out_features or new.lora_A.shape[1] != layer.in_features:
        raise ValueError(f"adapter {new.out_features}×{new.in_features} does not fit layer "
                         f"{layer.out_features}×{layer.in_features}")
    with torch.no_grad():
        layer.weight.add_(new.delta_weight() - old.delta_weight())


def _largest(memory_gb, bits_per_frozen_weight, trainable_fraction, bytes_per_trainable=16.0, overhead_gb=0.0):
    for name, v in [("memory_gb", memory_gb), ("bits_per_frozen_weight", bits_per_frozen_weight),
                    ("trainable_fraction", trainable_fraction), ("bytes_per_trainable", bytes_per_trainable),
                    ("overhead_gb", overhead_gb)]:
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"{name} must be finite and >= 0")
    per = bits_per_frozen_weight / 8 + trainable_fraction * bytes_per_trainable
    return max(0, math.floor((memory_gb - overhead_gb) * 1e9 / per))


def _levels():
    p = torch.special.ndtri(torch.linspace(ex.NF4_OFFSET, 0.5, 9, dtype=torch.float64)[:-1])
    n = -torch.special.ndtri(torch.linspace(ex.NF4_OFFSET, 0.5, 8, dtype=torch.float64)[:-1])
    v = torch.cat([n, torch.zeros(1, dtype=torch.float64), p.flip(0)])
    return (v / v.max()).float()


def _quantize(w, block):
    if w.numel() % block:
        raise ValueError(f"{w.numel()} values do not split into blocks of {block}")
    b = w.reshape(-1, block).float()
    absmax = b.abs().amax(1)
    scaled = b / absmax.clamp_min(1e-30)[:, None]
    mids = (_levels()[1:] + _levels()[:-1]) / 2                        # nearest level by its midpoints
    return torch.bucketize(scaled, mids).reshape(-1).to(torch.uint8), absmax


def _dequantize(codes, absmax, shape, block):
    return (_levels()[codes.long()].reshape(-1, block) * absmax[:, None]).reshape(shape)


def test_nf4_reference_is_the_published_table():
    assert ex.nf4_levels_reference().tolist() == pytest.approx(NF4_PUBLISHED, abs=6e-5)


def test_checkers_accept_correct_answers(capsys):
    ex.check_lora_grads(_grads)
    ex.check_swap_adapter(_swap)
    ex.check_largest_model(_largest)
    ex.check_nf4(_levels, _quantize, _dequantize)
    assert capsys.readouterr().out.count("✓") == 4


def test_lora_grads_rejects_wrong_answers():
    with pytest.raises(AssertionError, match="Hint"):                 # forgets the scale α/r
        ex.check_lora_grads(lambda x, A, B, g, s: _grads(x, A, B, g, 1.0))
    with pytest.raises(AssertionError, match="shape"):                 # returns dA transposed
        ex.check_lora_grads(lambda x, A, B, g, s: (_grads(x, A, B, g, s)[0].T, _grads(x, A, B, g, s)[1]))
    with pytest.raises(AssertionError, match="pair"):
        ex.check_lora_grads(lambda x, A, B, g, s: _grads(x, A, B, g, s)[0])


def test_swap_adapter_rejects_wrong_answers():
    def add_only(layer, old, new):                                     # forgets to remove the old update
        with torch.no_grad():
            layer.weight.add_(new.delta_weight())
    with pytest.raises(AssertionError, match="Hint"):
        ex.check_swap_adapter(add_only)

    def rebinds(layer, old, new):                                      # right values, a new tensor
        layer.weight = torch.nn.Parameter(new.merged().weight.detach().clone())
    with pytest.raises(AssertionError, match="in place"):
        ex.check_swap_adapter(rebinds)

    def no_shape_check(layer, old, new):                               # a wrong shape fails by broadcasting
        with torch.no_grad():
            layer.weight.add_((new.delta_weight() - old.delta_weight())[: layer.out_features])
    with pytest.raises(AssertionError, match="shape"):
        ex.check_swap_adapter(no_shape_check)


def test_largest_model_rejects_wrong_answers():
    with pytest.raises(AssertionError, match="Hint"):                  # bits taken for bytes
        ex.check_largest_model(lambda m, b, f, t=16.0, o=0.0: _largest(m, b * 8, f, t, o))
    with pytest.raises(AssertionError, match="int"):                    # not rounded down to a count
        ex.check_largest_model(lambda m, b, f, bytes_per_trainable=16.0, overhead_gb=0.0:
                               float(_largest(m, b, f, bytes_per_trainable, overhead_gb)))

    def negative(memory_gb, bits, frac, bytes_per_trainable=16.0, overhead_gb=0.0):   # can go below zero
        return math.floor((memory_gb - overhead_gb) * 1e9 / (bits / 8 + frac * bytes_per_trainable))
    with pytest.raises(AssertionError):
        ex.check_largest_model(negative)


def test_nf4_rejects_wrong_answers():
    def uniform_levels():                                               # INT4-like evenly spaced levels
        return torch.linspace(-1, 1, 16)
    with pytest.raises(AssertionError, match="Hint"):
        ex.check_nf4(uniform_levels, _quantize, _dequantize)

    def global_scale(w, block):                                         # one absmax for the whole tensor
        codes, absmax = _quantize(w, block)
        return codes, torch.full_like(absmax, float(w.abs().max()))
    with pytest.raises(AssertionError, match="absmax"):
        ex.check_nf4(_levels, global_scale, _dequantize)

    def truncating(w, block):                                           # rounds towards the lower level
        b = w.reshape(-1, block).float()
        absmax = b.abs().amax(1)
        scaled = b / absmax.clamp_min(1e-30)[:, None]
        codes = (torch.bucketize(scaled, _levels(), right=True) - 1).clamp(0, 15)
        return codes.reshape(-1).to(torch.uint8), absmax
    with pytest.raises(AssertionError, match="codes differ"):
        ex.check_nf4(_levels, truncating, _dequantize)
