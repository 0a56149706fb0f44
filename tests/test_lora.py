"""book.nn.lora: step 0 is the base model, merging changes nothing, and PEFT computes the same function."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from book.checks import assert_close
from book.nn.gpt import GPT, GPTConfig
from book.nn.lora import LoRALinear, count_parameters, inject_lora, lora_parameters, merge_lora

CFG = GPTConfig(vocab_size=23, block_size=12, n_layer=2, n_head=2, d_model=16)


def _model() -> GPT:
    torch.manual_seed(0)
    return GPT(CFG).double().eval()


def _randomise_b(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, LoRALinear):
                m.lora_B.copy_(torch.randn(m.lora_B.shape, generator=g, dtype=m.lora_B.dtype) * 0.1)


def test_step_zero_is_the_base_model_and_only_adapters_train():
    base = _model()
    model = copy.deepcopy(base)
    names = inject_lora(model, r=4, alpha=8)
    assert names == [f"blocks.{i}.attn.{p}" for i in range(2) for p in ("q_proj", "kv_proj", "out_proj")]
    x = torch.randint(0, 23, (3, 12))
    assert torch.equal(model(x)[0], base(x)[0])
    trainable, total = count_parameters(model)
    expected = sum(4 * (m.in_features + m.out_features) for m in model.modules() if isinstance(m, LoRALinear))
    assert trainable == expected == sum(p.numel() for p in lora_parameters(model))
    assert total == base.num_params() + trainable


def test_merged_model_gives_the_unmerged_outputs():
    model = _model()
    inject_lora(model, r=3, alpha=5, targets=("q_proj", "kv_proj", "out_proj", "up", "down"))
    _randomise_b(model)
    x = torch.randint(0, 23, (2, 12))
    before = model(x)[0]
    assert merge_lora(model) == 10
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    assert_close(model(x)[0], before, rtol=1e-12, atol=1e-12, name="merged vs unmerged logits")


def test_equals_peft_on_the_same_weights():
    peft = pytest.importorskip("peft")
    ours, theirs = _model(), _model()
    inject_lora(ours, r=4, alpha=16)
    _randomise_b(ours)
    config = peft.LoraConfig(r=4, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "kv_proj", "out_proj"])
    theirs = peft.get_peft_model(theirs, config)
    with torch.no_grad():
        for name, m in ours.named_modules():
            if isinstance(m, LoRALinear):
                layer = theirs.get_submodule(f"base_model.model.{name}")
                layer.lora_A["default"].weight.copy_(m.lora_A)
                layer.lora_B["default"].weight.copy_(m.lora_B)
    x = torch.randint(0, 23, (3, 12))
    assert_close(ours(x)[0], theirs(x)[0], rtol=1e-12, atol=1e-12, name="ours vs PEFT logits")
    assert count_parameters(ours)[0] == theirs.get_nb_trainable_parameters()[0]


def test_bad_arguments_are_named():
    lin = nn.Linear(8, 4)
    with pytest.raises(ValueError, match="rank r=5 exceeds"):
        LoRALinear(lin, r=5, alpha=1)
    with pytest.raises(ValueError, match="positive int"):
        LoRALinear(lin, r=0, alpha=1)
    with pytest.raises(ValueError, match="alpha"):
        LoRALinear(lin, r=2, alpha=float("nan"))
    with pytest.raises(TypeError, match="in_features"):
        LoRALinear(nn.ReLU(), r=1, alpha=1)
    with pytest.raises(ValueError, match=r"its linear layers are named \['down', 'head', 'kv_proj'"):
        inject_lora(_model(), r=2, alpha=2, targets=("qkv",))
