"""book.formats.memory: exact parameter counts, state-dict and AdamW bytes of real models, LLaMA-3-8B."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from book.formats import memory
from book.inference.economics import TransformerShape
from book.nn.gpt import GPT, GPTConfig

CONFIGS = [GPTConfig(), GPTConfig(norm="rmsnorm", mlp="swiglu", positions="rope", n_kv_head=2),
           GPTConfig(bias=False, tie_embeddings=False, positions="sinusoidal", n_layer=3),
           GPTConfig(mlp="swiglu", norm="rmsnorm", d_model=96, n_head=3, vocab_size=101)]


@pytest.mark.parametrize("cfg", CONFIGS, ids=["default", "modern-gqa", "untied-nobias", "odd-sizes"])
def test_param_count_and_bytes_match_the_model(cfg):
    model = GPT(cfg)
    spec = memory.ModelSpec.from_gpt_config(cfg)
    assert memory.param_count(spec) == model.num_params() == sum(p.numel() for p in model.parameters())
    unique = {t.data_ptr(): t for t in model.state_dict().values()}
    assert memory.weight_bytes(spec, 4) == sum(t.numel() * t.element_size() for t in unique.values())


def test_adamw_state_after_one_step():
    torch.manual_seed(0)
    model = GPT(GPTConfig())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, 64, (2, 16))
    model(x, x)[1].backward()
    opt.step()
    got = sum(v.numel() * v.element_size() for s in opt.state.values() for v in s.values())
    assert got == memory.adamw_state_bytes(model.num_params(), len(list(model.parameters())))


def test_llama3_8b_from_its_config():
    config = json.loads((Path(__file__).parents[1] / "part6_production/data/llama3_8b_config.json").read_text())
    spec = memory.ModelSpec.from_hf_config(config, "LLaMA-3-8B")
    assert memory.param_count(spec) == 8_030_261_248
    assert round(memory.param_count(spec) / 1e9, 2) == 8.03
    assert memory.kv_cache_bytes(spec.shape, tokens=1) == 2 * 32 * 8 * 128 * 2       # 128 KiB per token, bf16


def test_training_bytes_and_activation_estimate():
    spec = memory.ModelSpec.from_gpt_config(GPTConfig())
    n = memory.param_count(spec)
    t = memory.training_bytes(spec, batch=4, seq_len=64)
    assert t["weights"] + t["gradients"] + t["optimizer (master + m + v)"] == 16 * n
    assert sum(memory.training_bytes_per_param("fp32").values()) == 16
    s = spec.shape
    assert memory.activation_bytes(spec, 4, 64) == s.n_layer * 64 * 4 * s.d_model * (34 + 5 * s.n_head * 64 / s.d_model)
    assert memory.activation_bytes(spec, 4, 64, 4) == 2 * memory.activation_bytes(spec, 4, 64, 2)
    assert memory.activation_bytes(spec, 4, 64, fused_attention=True) == s.n_layer * 64 * 4 * s.d_model * 34
    assert t["activations (estimate)"] == memory.activation_bytes(spec, 4, 64, 2, fused_attention=True)


def test_bad_inputs_name_the_argument():
    shape = TransformerShape(n_layer=1, d_model=8, n_head=2, n_kv_head=2, d_ff=16, vocab_size=5)
    with pytest.raises(ValueError, match="norm must be"):
        memory.ModelSpec(shape, norm="batchnorm")
    with pytest.raises(ValueError, match="shape must be a TransformerShape"):
        memory.ModelSpec({"d_model": 8})
    with pytest.raises(ValueError, match="missing"):
        memory.ModelSpec.from_hf_config({"hidden_size": 8})
    with pytest.raises(ValueError, match="seq_len must be"):
        memory.activation_bytes(memory.ModelSpec(shape), 1, 0)
    with pytest.raises(ValueError, match="recipe must be"):
        memory.training_bytes_per_param("fp8")
