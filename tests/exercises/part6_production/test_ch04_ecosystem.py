"""The p6-4 exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import json
import math
import struct

import pytest

from book.exercises.part6_production import ch04_ecosystem as ex

BLOCK = {"F32": (1, 4), "F16": (1, 2), "Q8_0": (32, 34), "Q4_0": (32, 18)}


def _bytes(shape, t):
    per, nbytes = BLOCK[t]
    if shape[-1] % per:
        raise ValueError("not whole blocks")
    return math.prod(shape) // per * nbytes


def test_check_gguf_tensor_bytes(capsys):
    ex.check_gguf_tensor_bytes(_bytes)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="2-byte scale"):
        ex.check_gguf_tensor_bytes(lambda s, t: math.prod(s) * {"F32": 32, "F16": 16, "Q8_0": 8, "Q4_0": 4}[t] // 8)
    with pytest.raises(AssertionError, match="raise ValueError"):
        ex.check_gguf_tensor_bytes(lambda s, t: math.prod(s) * BLOCK[t][1] // BLOCK[t][0])


def _params(c):
    d, f, L, h = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["num_attention_heads"]
    kv = c.get("num_key_value_heads", h) * (d // h)
    emb = c["vocab_size"] * d
    return L * (2 * d * d + 2 * d * kv + 3 * d * f + 2 * d) + d + emb * (1 if c["tie_word_embeddings"] else 2)


def test_check_param_count(capsys):
    ex.check_param_count(_params)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="RMSNorm"):
        ex.check_param_count(lambda c: _params(c) - (2 * c["num_hidden_layers"] + 1) * c["hidden_size"])
    with pytest.raises(AssertionError, match="count it once"):
        ex.check_param_count(lambda c: _params({**c, "tie_word_embeddings": False}))
    with pytest.raises(KeyError):      # assumes num_key_value_heads is always there
        ex.check_param_count(lambda c: _params(c) + 0 * c["num_key_value_heads"])


def _header(raw):
    if len(raw) < 8:
        raise ValueError("short")
    (n,) = struct.unpack("<Q", raw[:8])
    if len(raw) < 8 + n:
        raise ValueError("short header")
    h = json.loads(raw[8:8 + n])
    meta = h.pop("__metadata__", {})
    end = max((v["data_offsets"][1] for v in h.values()), default=0)
    if len(raw) != 8 + n + end:
        raise ValueError("truncated data")
    return {k: (v["dtype"], v["shape"], v["data_offsets"]) for k, v in h.items()}, meta


def test_check_safetensors_header(capsys):
    ex.check_safetensors_header(_header)
    assert "✓" in capsys.readouterr().out

    def lenient(raw):                  # never checks the data length
        (n,) = struct.unpack("<Q", raw[:8])
        h = json.loads(raw[8:8 + n])
        meta = h.pop("__metadata__", {})
        return {k: (v["dtype"], v["shape"], v["data_offsets"]) for k, v in h.items()}, meta

    with pytest.raises(AssertionError, match="raised error"):
        ex.check_safetensors_header(lenient)

    def no_data_check(raw):            # checks the header, never the data length
        if len(raw) < 8 or len(raw) < 8 + struct.unpack("<Q", raw[:8])[0]:
            raise ValueError("short")
        return lenient(raw)

    with pytest.raises(AssertionError, match="was accepted"):
        ex.check_safetensors_header(no_data_check)
    with pytest.raises(AssertionError, match="__metadata__"):
        ex.check_safetensors_header(lambda raw: ({**_header(raw)[0], "__metadata__": ("", (), (0, 0))}, {}))
