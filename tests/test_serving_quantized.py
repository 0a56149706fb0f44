"""Weight-only INT8/INT4 serving: exact against the dequantised reference, measured agreement, exact speculation."""

import pytest
import torch

from book.inference.speculative import speculative_generate
from book.nn.gpt import GPT, GPTConfig
from book.quant.weight_only import int4_matmul_reference, int8_matmul_reference, quantize_int4, quantize_int8
from book.serving import Engine, EngineConfig, SamplingParams
from book.serving.quantized import QuantConfig, QuantLinear, linear_weight_bytes, quantize_model
from book.serving.server import tiny_model

MODEL, TOK = tiny_model(steps=60)                 # briefly trained: logits with real gaps between the top tokens
PROMPTS = [TOK.encode(s) for s in ("the cat", "a dog ran under the", "once upon a time there was a little", "the")]


def greedy(model, prompt, n):
    return model.generate(torch.tensor([prompt]), n, temperature=0)[0, len(prompt):].tolist()


@pytest.mark.parametrize("fmt", ["int8", "int4"])
def test_quant_linear_equals_reference_matmul(fmt):
    torch.manual_seed(0)
    lin = torch.nn.Linear(96, 40)
    layer = QuantLinear.from_linear(lin, QuantConfig(fmt, group_size=32))
    x = torch.randn(3, 5, 96)
    w = lin.weight.detach()
    ref = (int8_matmul_reference(x, *quantize_int8(w)) if fmt == "int8"
           else int4_matmul_reference(x, *quantize_int4(w, 32), 32)) + lin.bias.detach()
    assert torch.allclose(layer(x), ref, atol=1e-5)
    assert layer(x.double()).dtype == torch.float64
    with pytest.raises(ValueError, match="in_features=96"):
        layer(torch.randn(2, 95))


def test_quantize_model_leaves_original_and_saves_bytes():
    before = {k: v.clone() for k, v in MODEL.state_dict().items()}
    q8, q4 = quantize_model(MODEL, QuantConfig("int8")), quantize_model(MODEL, QuantConfig("int4", 32))
    assert all(torch.equal(before[k], v) for k, v in MODEL.state_dict().items())
    f = linear_weight_bytes(MODEL)                      # float64: 8 bytes a weight
    assert f / 8.5 < linear_weight_bytes(q8) < f / 7.5  # 1 byte a weight + a scale per row
    assert f / 16.5 < linear_weight_bytes(q4) < f / 12  # ½ byte a weight + a scale per 32
    assert sum(isinstance(m, QuantLinear) for m in q4.modules()) == 5 * MODEL.cfg.n_layer   # q, kv, out, up, down


def test_config_errors():
    with pytest.raises(ValueError, match="fmt"):
        QuantConfig("int3")
    with pytest.raises(ValueError, match="group_size"):
        QuantConfig("int4", group_size=7)
    with pytest.raises(ValueError, match="does not divide"):
        QuantLinear.from_linear(torch.nn.Linear(48, 8), QuantConfig("int4", group_size=32))
    with pytest.raises(ValueError, match="GPT"):
        quantize_model(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("fmt", ["int8", "int4"])
def test_engine_serves_quantized_model_exactly(fmt):
    """The engine with quantised weights = the quantised model's own greedy decoding (exact), batched and paged."""
    q = quantize_model(MODEL, QuantConfig(fmt, 32))
    engine = Engine(q, EngineConfig(num_slots=3, block_size=4))
    out = engine.generate(PROMPTS, SamplingParams(max_tokens=12))
    assert out == [greedy(q, p, 12) for p in PROMPTS]
    assert engine.block_manager.num_free == engine.block_manager.num_blocks


def test_agreement_with_float_is_measured_and_high_for_int8():
    """Quantisation is not exact: count the greedy tokens that match float before the first divergence."""
    ref = [greedy(MODEL, p, 16) for p in PROMPTS]
    rates = {}
    for fmt in ("int8", "int4"):
        q = quantize_model(MODEL, QuantConfig(fmt, 32))
        # teacher-forced agreement: the argmax of each position of the float model's own continuation
        agree = total = 0
        for p, r in zip(PROMPTS, ref):
            seq = torch.tensor([p + r])
            a, b = MODEL(seq)[0][0, len(p) - 1:-1].argmax(-1), q(seq)[0][0, len(p) - 1:-1].argmax(-1)
            agree, total = agree + int((a == b).sum()), total + len(r)
        rates[fmt] = agree / total
    assert rates["int8"] >= 0.95 and rates["int4"] >= 0.7, rates


def test_speculative_with_quantized_draft_is_exact():
    """A greedy draft-verify loop returns the target's greedy tokens, whatever the draft (here its INT4 copy)."""
    draft = quantize_model(MODEL, QuantConfig("int4", 32))
    small = GPT(GPTConfig(vocab_size=TOK.vocab_size, block_size=MODEL.cfg.block_size, n_layer=1, d_model=16,
                          n_head=2)).double().eval()      # an untrained draft: mostly rejected, still exact
    for d in (draft, small):
        for p in PROMPTS:
            out, stats = speculative_generate(MODEL, d, torch.tensor([p]), 20, gamma=4, temperature=0)
            assert out[0, len(p):].tolist() == greedy(MODEL, p, 20)
            assert stats.tokens == 20
