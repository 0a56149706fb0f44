"""The p6-1 exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import math

import pytest

from book.exercises.part6_production import ch01_inference_economics as ex


def _kv(n_layer, n_kv_head, head_dim, tokens, batch, s):
    return 2 * n_layer * n_kv_head * head_dim * tokens * batch * s


def test_check_kv_cache_bytes(capsys):
    ex.check_kv_cache_bytes(_kv)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="keys AND values"):
        ex.check_kv_cache_bytes(lambda *a: _kv(*a) / 2)
    with pytest.raises(AssertionError, match="bytes per number"):
        ex.check_kv_cache_bytes(lambda L, h, d, t, b, s: 2 * L * h * d * t * b)
    with pytest.raises(AssertionError, match="expected"):
        ex.check_kv_cache_bytes(lambda L, h, d, t, b, s: _kv(L, h, d, t, 1, s))      # forgets the batch


def _critical(p, bw, s):
    return math.ceil(s * p / (2 * bw))


def test_check_critical_batch(capsys):
    ex.check_critical_batch(_critical)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="one short"):
        ex.check_critical_batch(lambda p, bw, s: math.floor(s * p / (2 * bw) - 1e-9))
    with pytest.raises(AssertionError, match="an int"):
        ex.check_critical_batch(lambda p, bw, s: s * p / (2 * bw))
    with pytest.raises(AssertionError, match=r"not P/\(s·B_mem\)"):
        ex.check_critical_batch(lambda p, bw, s: math.ceil(p / (s * bw)))


def _tps(shape, hw, context, batch, s, kv, per_sequence_weights=False, forget_new_token=False):
    seen = context if forget_new_token else context + 1
    d_attn = shape.n_head * shape.head_dim
    flops = batch * (2 * shape.matmul_params + 4 * shape.n_layer * d_attn * seen)
    weights = shape.matmul_params * s * (batch if per_sequence_weights else 1)
    traffic = weights + batch * seen * 2 * shape.n_layer * shape.kv_dim * kv
    return batch / max(flops / hw.peak_flops, traffic / hw.bandwidth)


def test_check_decode_throughput(capsys):
    ex.check_decode_throughput(_tps)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="once per step"):
        ex.check_decode_throughput(lambda *a: _tps(*a, per_sequence_weights=True))
    with pytest.raises(AssertionError, match="S\\+1"):
        ex.check_decode_throughput(lambda *a: _tps(*a, forget_new_token=True))
