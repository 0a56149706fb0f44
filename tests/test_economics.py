"""book.inference.economics: closed forms checked by hand, FLOPs against a counted forward, bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from book.inference import economics as ec
from book.nn.gpt import GPT, GPTConfig


def _counted(model, idx, cache=None) -> int:
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(idx, cache=cache)
    return counter.get_total_flops()


def test_llama2_70b_parameter_count_by_hand():
    s = ec.LLAMA2_70B
    attn = 2 * 8192 * 8192 + 2 * 8192 * (8 * 128)          # Q, O; K, V with 8 KV heads of 128
    ffn = 3 * 8192 * 28672                                   # SwiGLU: gate, up, down
    assert s.layer_params == attn + ffn
    assert s.matmul_params == 80 * (attn + ffn) + 32000 * 8192
    assert s.n_params == s.matmul_params + 32000 * 8192     # untied embedding table
    assert 68.9e9 < s.n_params < 69.0e9


def test_kv_cache_bytes_closed_form():
    assert ec.kv_cache_bytes(ec.LLAMA2_70B, 1) == 2 * 80 * 8 * 128 * 2
    assert ec.kv_cache_bytes(ec.LLAMA2_70B, 4096, batch=3, kv_bytes=1) == 2 * 80 * 1024 * 4096 * 3
    assert ec.kv_cache_bytes(ec.LLAMA2_70B, 0) == 0


@pytest.mark.parametrize("cfg", [GPTConfig(),
                                 GPTConfig(vocab_size=97, n_layer=3, n_head=6, n_kv_head=2, d_model=48,
                                           mlp="swiglu", norm="rmsnorm", positions="rope", bias=False,
                                           tie_embeddings=False)],
                         ids=["tiny GPT", "GQA + SwiGLU, untied"])
def test_flops_match_a_counted_forward_of_the_book_gpt(cfg):
    torch.manual_seed(0)
    model = GPT(cfg).eval()
    shape = ec.TransformerShape.from_gpt_config(cfg)
    n_2d = sum(p.numel() for n, p in model.named_parameters() if p.dim() == 2 and "emb" not in n)
    assert shape.matmul_params == n_2d + (cfg.vocab_size * cfg.d_model if cfg.tie_embeddings else 0)
    idx = torch.randint(0, cfg.vocab_size, (2, 23))
    assert _counted(model, idx) == ec.prefill_cost(shape, 23, batch=2).flops
    cache = model.new_cache()
    with torch.no_grad():
        model(idx, cache=cache)
    assert _counted(model, idx[:, -1:], cache) == ec.decode_cost(shape, 23, batch=2).flops


def test_bytes_and_intensity_by_hand():
    s = ec.TransformerShape(n_layer=2, d_model=64, n_head=4, n_kv_head=4, d_ff=256, vocab_size=64)
    n, k = s.matmul_params, 2 * 2 * 64 * 4.0                # fp32 cache: 2 (K, V) · L · kv_dim · 4 bytes
    dec = ec.decode_cost(s, context=10, batch=3, bytes_per_param=4, kv_bytes=4)
    assert dec.bytes == n * 4 + 3 * 11 * k
    assert dec.flops == 3 * (2 * n + 4 * 2 * 64 * 11)
    assert dec.intensity == dec.flops / dec.bytes
    pre = ec.prefill_cost(s, prompt_len=10, batch=3, bytes_per_param=4, kv_bytes=4)
    assert pre.bytes == n * 4 + 3 * 10 * k and pre.tokens == 30


def test_roofline_and_throughput_closed_forms():
    assert float(ec.attainable_flops(1.0, 312e12, 2e12)) == 2e12
    assert float(ec.attainable_flops(1e4, 312e12, 2e12)) == 312e12
    got = ec.attainable_flops(np.array([0.5, 156.0, 1e3]), 312e12, 2e12)
    assert np.allclose(got, [1e12, 312e12, 312e12])
    assert ec.A100_SXM_80GB.ridge == pytest.approx(312 / 2.039)
    # batch 1, 8-bit weights on an A100: the bandwidth bound is the quoted ~30 tokens/s
    tps = ec.decode_tokens_per_second(ec.LLAMA2_70B, ec.A100_SXM_80GB, context=0, bytes_per_param=1)
    assert tps == pytest.approx(2.039e12 / (ec.LLAMA2_70B.matmul_params + ec.kv_cache_bytes(ec.LLAMA2_70B, 1)))
    # a huge batch is compute-bound: throughput = peak / FLOPs per token
    big = ec.decode_tokens_per_second(ec.LLAMA2_70B, ec.A100_SXM_80GB, context=0, batch=100_000, bytes_per_param=1)
    per_token = 2 * ec.LLAMA2_70B.matmul_params + 4 * 80 * 8192
    assert big == pytest.approx(312e12 / per_token)


def test_cost_per_million_tokens_and_max_batch():
    assert ec.cost_per_million_tokens(2.0, 30.0) == pytest.approx(2e6 / (3600 * 30))
    assert round(ec.cost_per_million_tokens(2.0, 30.0), 1) == 18.5
    assert ec.max_batch(ec.LLAMA2_70B, ec.A100_SXM_80GB, 2048, bytes_per_param=2) == 0     # bf16 does not fit
    free = 80e9 - ec.LLAMA2_70B.matmul_params
    assert ec.max_batch(ec.LLAMA2_70B, ec.A100_SXM_80GB, 2048, bytes_per_param=1) == int(free // (327680 * 2048))


def test_bad_inputs_name_the_argument():
    s = ec.LLAMA2_70B
    with pytest.raises(ValueError, match="n_kv_head"):
        ec.TransformerShape(n_layer=2, d_model=64, n_head=4, n_kv_head=3, d_ff=256, vocab_size=64)
    with pytest.raises(ValueError, match="n_head"):
        ec.TransformerShape(n_layer=2, d_model=60, n_head=8, n_kv_head=8, d_ff=256, vocab_size=64)
    with pytest.raises(ValueError, match="n_layer"):
        ec.TransformerShape(n_layer=0, d_model=64, n_head=4, n_kv_head=4, d_ff=256, vocab_size=64)
    with pytest.raises(ValueError, match="context"):
        ec.decode_cost(s, context=-1)
    with pytest.raises(ValueError, match="prompt_len"):
        ec.prefill_cost(s, prompt_len=2.5)
    with pytest.raises(ValueError, match="batch"):
        ec.decode_cost(s, context=0, batch=0)
    with pytest.raises(ValueError, match="bytes_per_param"):
        ec.decode_cost(s, context=0, bytes_per_param=-2)
    with pytest.raises(ValueError, match="intensity"):
        ec.attainable_flops([1.0, 0.0], 1e12, 1e11)
    with pytest.raises(ValueError, match="peak_flops"):
        ec.Hardware("x", peak_flops=math.nan, bandwidth=1e9)
    with pytest.raises(ValueError, match="tokens_per_second"):
        ec.cost_per_million_tokens(2.0, 0.0)
    with pytest.raises(ValueError, match="memory_bytes"):
        ec.max_batch(s, ec.Hardware("no memory given", 1e12, 1e11), 2048)
    with pytest.raises(ValueError, match="n_experts"):
        ec.TransformerShape.from_gpt_config(GPTConfig(n_experts=4))
