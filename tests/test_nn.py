"""book.nn, book.tokenizers and book.train against PyTorch references and closed forms."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from book.checks import assert_close
from book.data import stories
from book.nn.attention import KVCache, MultiHeadAttention, attention, causal_mask, kv_cache_bytes
from book.nn.gpt import GPT, GPTConfig
from book.nn.layers import MLP, LayerNorm, RMSNorm, SwiGLU, apply_rope, rope_angles, sinusoidal_positions
from book.nn.moe import TopKMoE
from book.tokenizers import CharTokenizer, WordTokenizer
from book.train import TrainConfig, cosine_lr, evaluate_lm, lm_batch, train_lm


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("t, s", [(5, 5), (1, 7), (13, 13)])
def test_attention_equals_sdpa(causal, t, s):
    if causal and t != s:
        pytest.skip("SDPA's is_causal aligns the mask top-left; ours bottom-right (decode); compare equal lengths")
    q, k, v = torch.randn(2, 3, t, 8, dtype=torch.float64), torch.randn(2, 3, s, 8, dtype=torch.float64), \
        torch.randn(2, 3, s, 5, dtype=torch.float64)
    out, w = attention(q, k, v, causal=causal)
    assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=causal), rtol=1e-12, atol=1e-12)
    assert_close(w.sum(-1), torch.ones(2, 3, t), rtol=1e-12)


def test_causal_mask_for_decoding_sees_the_whole_prefix():
    m = causal_mask(2, 5)
    assert m.tolist() == [[True, True, True, True, False], [True, True, True, True, True]]


def test_attention_shape_error_names_shapes():
    with pytest.raises(ValueError, match=r"q \(1, 4, 8\) and k \(1, 4, 6\)"):
        attention(torch.randn(1, 4, 8), torch.randn(1, 4, 6), torch.randn(1, 4, 6))
    with pytest.raises(ValueError, match=r"k \(1, 4, 6\) and v \(1, 3, 6\)"):
        attention(torch.randn(1, 4, 6), torch.randn(1, 4, 6), torch.randn(1, 3, 6))
    with pytest.raises(TypeError, match="bool tensor"):
        attention(*(torch.randn(1, 4, 6),) * 3, mask=torch.ones(4, 4))


def test_attention_scale_mask_and_low_precision_path():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 8, generator=g, dtype=torch.float64) for _ in range(3))
    keep = torch.rand(2, 1, 5, 5, generator=g) > 0.3
    keep[..., 0] = True                                   # every query keeps at least one key
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, scale=0.7)
    assert_close(attention(q, k, v, mask=keep, scale=0.7)[0], ref, rtol=1e-12, atol=1e-12)
    half = [t.half() for t in (q, k, v)]
    out = attention(*half, causal=True, compute_dtype=torch.float32)[0]
    assert out.dtype == torch.float16
    exact = attention(*[t.double() for t in half], causal=True)[0]
    assert_close(out, exact, rtol=2e-3, atol=2e-3, name="fp16 in, fp32 arithmetic")


def test_multihead_attention_is_causal():
    mha = MultiHeadAttention(32, 4).double()
    x = torch.randn(2, 10, 32, dtype=torch.float64)
    y = mha(x)
    x2 = x.clone()
    x2[:, 6:] = torch.randn_like(x2[:, 6:])
    assert_close(mha(x2)[:, :6], y[:, :6], rtol=1e-12, atol=1e-12, name="outputs before the change")
    assert (mha(x2)[:, 6:] - y[:, 6:]).abs().max() > 1e-3


def test_gqa_with_shared_heads_equals_explicit_repetition():
    gqa = MultiHeadAttention(32, 4, n_kv_head=2).double()
    x = torch.randn(1, 6, 32, dtype=torch.float64)
    q = gqa.q_proj(x).view(1, 6, 4, 8).transpose(1, 2)
    k, v = gqa.kv_proj(x).view(1, 6, 2, 2, 8).permute(2, 0, 3, 1, 4)
    heads = [attention(q[:, h], k[:, h // 2], v[:, h // 2], causal=True)[0] for h in range(4)]
    ref = gqa.out_proj(torch.stack(heads, 1).transpose(1, 2).reshape(1, 6, 32))
    assert_close(gqa(x), ref, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="n_head=4 is not divisible by n_kv_head=3"):
        MultiHeadAttention(32, 4, n_kv_head=3)


def test_rope_scores_depend_only_on_offset():
    cos, sin = rope_angles(64, 16)
    q, k = torch.randn(16, dtype=torch.float64), torch.randn(16, dtype=torch.float64)
    rq = apply_rope(q.expand(64, 16), cos.double(), sin.double())
    rk = apply_rope(k.expand(64, 16), cos.double(), sin.double())
    scores = rq @ rk.T                                     # scores[m, n]
    for off in (0, 3, -5):
        diag = torch.diagonal(scores, offset=off)
        assert_close(diag, diag[0].expand_as(diag), rtol=1e-5, atol=1e-5, name=f"offset {off}")
    assert_close(rq.norm(dim=-1), q.norm().expand(64), rtol=1e-6)  # a rotation keeps lengths


def test_norms_match_torch():
    x = torch.randn(3, 7, 24, dtype=torch.float64) * 3 + 1
    ln, ref = LayerNorm(24).double(), torch.nn.LayerNorm(24).double()
    with torch.no_grad():
        ln.weight.uniform_()
        ln.bias.normal_()
        ref.weight.copy_(ln.weight)
        ref.bias.copy_(ln.bias)
    assert_close(ln(x), ref(x), rtol=1e-10, atol=1e-12)
    rms, rref = RMSNorm(24).double(), torch.nn.RMSNorm(24, eps=1e-6).double()
    assert_close(rms(x), rref(x), rtol=1e-10, atol=1e-12)


def test_swiglu_matches_gelu_mlp_parameter_budget():
    n_mlp = sum(p.numel() for p in MLP(96, bias=False).parameters())
    n_swi = sum(p.numel() for p in SwiGLU(96).parameters())
    assert abs(n_swi - n_mlp) / n_mlp < 0.02


def test_sinusoidal_positions():
    pe = sinusoidal_positions(50, 16)
    assert pe.shape == (50, 16)
    assert_close(pe[:, 0], torch.sin(torch.arange(50.0)), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="even"):
        sinusoidal_positions(4, 5)


def test_moe_mixes_the_top_k_experts_and_balances():
    moe = TopKMoE(16, n_experts=4, top_k=2).double()
    x = torch.randn(5, 16, dtype=torch.float64)
    probs = F.softmax(moe.router(x), -1)
    top_p, top_i = probs.topk(2, -1)
    top_p = top_p / top_p.sum(-1, keepdim=True)
    ref = torch.stack([sum(top_p[n, j] * moe.experts[int(top_i[n, j])](x[n:n + 1])[0] for j in range(2))
                       for n in range(5)])
    assert_close(moe(x), ref, rtol=1e-10, atol=1e-12)
    with torch.no_grad():  # a router that prefers nobody: uniform probabilities give exactly 1
        moe.router.weight.zero_()
    moe(x)
    assert abs(moe.aux_loss.item() - 1.0) < 1e-9
    with pytest.raises(ValueError, match="top_k"):
        TopKMoE(8, n_experts=2, top_k=3)


@pytest.mark.parametrize("kw", [{}, dict(norm="rmsnorm", mlp="swiglu", positions="rope", n_kv_head=2),
                                dict(positions="sinusoidal"), dict(n_experts=3)])
def test_gpt_forward_loss_generate(kw):
    cfg = GPTConfig(vocab_size=50, block_size=16, **kw)
    model = GPT(cfg)
    x, y = torch.randint(0, 50, (3, 16)), torch.randint(0, 50, (3, 16))
    logits, loss = model(x, y)
    assert logits.shape == (3, 16, 50)
    assert abs(loss.item() - math.log(50)) < 0.2     # near uniform at initialisation
    out = model.generate(x[:, :4], 20, generator=torch.Generator().manual_seed(0))
    assert out.shape == (3, 24) and torch.equal(out[:, :4], x[:, :4])
    greedy = model.generate(x[:1, :4], 5, temperature=0)
    assert torch.equal(greedy, model.generate(x[:1, :4], 5, temperature=0))


def test_gpt_errors():
    model = GPT(GPTConfig(vocab_size=10, block_size=8))
    with pytest.raises(ValueError, match="exceeds block_size=8"):
        model(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match=r"got shape \(9,\)"):
        model(torch.zeros(9, dtype=torch.long))
    with pytest.raises(ValueError, match="positions must be"):
        GPTConfig(positions="alibi")


def test_kv_cache_bytes_formula_matches_tensors():
    cfg = GPTConfig(vocab_size=10, n_layer=3, n_head=8, n_kv_head=2, d_model=64)
    model = GPT(cfg)
    seq, batch = 37, 5
    head_dim = cfg.d_model // cfg.n_head
    k = torch.empty(batch, cfg.n_kv_head, seq, head_dim, dtype=torch.float16)
    per_layer = 2 * k.numel() * k.element_size()
    assert model.kv_cache_bytes(seq, batch, bytes_per_value=2) == cfg.n_layer * per_layer
    assert kv_cache_bytes(3, 8, 8, 37, 5) == 4 * kv_cache_bytes(3, 2, 8, 37, 5)


def test_tokenizers_round_trip():
    tok = WordTokenizer(stories.VOCAB)
    txt = stories.text(20, seed=4)
    assert tok.decode(tok.encode(txt)) == txt
    with pytest.raises(ValueError, match="'zebra' is not in"):
        tok.encode("the zebra ran .")
    ch = CharTokenizer("hello wörld ✓")
    assert ch.decode(ch.encode("wörld ✓")) == "wörld ✓"
    with pytest.raises(ValueError, match="'z'"):
        ch.encode("z")
    with pytest.raises(ValueError, match=r"text: character 'q' at position 3 .* vocabulary of 10 characters"):
        ch.encode("öl q")


def test_batches_schedule_and_a_short_training_run():
    data = torch.arange(100)
    x, y = lm_batch(data, 8, 4, torch.Generator().manual_seed(0))
    assert x.shape == (4, 8) and torch.equal(y, x + 1)
    with pytest.raises(ValueError, match="need more than block_size"):
        lm_batch(torch.arange(5), 8, 2)
    assert cosine_lr(0, 100, 1.0, warmup=10) == pytest.approx(0.1)
    assert cosine_lr(10, 100, 1.0, warmup=10) == pytest.approx(1.0)
    assert cosine_lr(100, 100, 1.0, warmup=10) == pytest.approx(0.1)
    tok = WordTokenizer(stories.VOCAB)
    train = torch.tensor(tok.encode(stories.text(200, seed=0)))
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=1, d_model=32))
    before = evaluate_lm(model, train, batches=2)
    hist = train_lm(model, train, TrainConfig(steps=60, eval_every=30, batch_size=16), val_data=train,
                    show_progress=False)
    assert len(hist.train_loss) == 60 and hist.eval_steps == [30, 60]
    assert hist.val_loss[-1] < before - 1.0


@pytest.mark.parametrize("kw", [{}, dict(positions="rope", n_kv_head=2, norm="rmsnorm", mlp="swiglu"),
                                dict(positions="sinusoidal")])
def test_kv_cache_gives_the_same_logits_and_tokens(kw):
    model = GPT(GPTConfig(vocab_size=40, block_size=48, **kw)).double().eval()
    idx = torch.randint(0, 40, (2, 30))
    full, _ = model(idx)
    cache = model.new_cache()
    first, _ = model(idx[:, :12], cache=cache)                # a prompt of 12
    pieces = [first]
    for t in range(12, 30, 6):                                # then chunks of 6 and single tokens
        pieces.append(model(idx[:, t:t + 6], cache=cache)[0])
    assert_close(torch.cat(pieces, 1), full, rtol=1e-10, atol=1e-12, name="cached vs full logits")
    assert cache.length == 30
    assert cache.nbytes() == model.kv_cache_bytes(30, batch=2, bytes_per_value=8)
    prompt = idx[:, :5]
    assert torch.equal(model.generate(prompt, 20, temperature=0, use_cache=True),
                       model.generate(prompt, 20, temperature=0))
    with pytest.raises(ValueError, match="exceed block_size=48"):
        model.generate(prompt, 60, use_cache=True)


def test_kv_cache_preallocates_writes_in_place_and_grows_without_a_limit():
    g = torch.Generator().manual_seed(1)
    steps = [torch.randn(2, 3, t, 4, generator=g) for t in (5, 1, 1, 3)]
    bounded, growing = KVCache(2, max_length=12), KVCache(2)
    for cache in (bounded, growing):
        seen = []
        for x in steps:
            seen.append(x)
            for layer in range(2):
                k, v = cache.update(layer, x, 2 * x)
            assert torch.equal(k, torch.cat(seen, dim=2)) and torch.equal(v, 2 * torch.cat(seen, dim=2))
        assert cache.length == 10 and cache.nbytes() == 2 * 2 * (2 * 3 * 10 * 4) * 4
    assert bounded.allocated_bytes() == 2 * 2 * (2 * 3 * 12 * 4) * 4     # allocated once, at max_length
    buffer = bounded._k[0]
    bounded.update(0, steps[1], steps[1])
    assert bounded._k[0] is buffer                                        # written in place, not copied
    with pytest.raises(ValueError, match="max_length=12"):
        bounded.update(0, torch.zeros(2, 3, 5, 4), torch.zeros(2, 3, 5, 4))
    with pytest.raises(ValueError, match="do not match"):
        growing.update(0, torch.zeros(1, 3, 1, 4), torch.zeros(1, 3, 1, 4))


def test_gpt_names_token_ids_outside_the_vocabulary():
    model = GPT(GPTConfig(vocab_size=10, block_size=8))
    for bad, shown in ((torch.tensor([[1, 2, 10]]), r"\[1, 10\]"), (torch.tensor([[-1, 3]]), r"\[-1, 3\]")):
        with pytest.raises(ValueError, match=shown + r", outside the vocabulary \[0, 10\)"):
            model(bad)
    assert model(torch.tensor([[0, 9]]))[0].shape == (1, 2, 10)
