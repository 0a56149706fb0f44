"""book.inference.speculative: the output is the target's, in distribution (χ²) and token for token (greedy)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from scipy.stats import chisquare

from book.inference import sampling
from book.inference import speculative as spec
from book.nn.gpt import GPT, GPTConfig

V = 5


def _model(n_layer: int, seed: int, vocab: int = V, block: int = 16) -> GPT:
    """A small random GPT with spread-out weights, so its next-token distributions are peaked and varied."""
    torch.manual_seed(seed)
    m = GPT(GPTConfig(vocab_size=vocab, block_size=block, n_layer=n_layer, n_head=2, d_model=16))
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.4)
    return m.eval()


def _pooled_chisquare(counts: torch.Tensor, probs: torch.Tensor, min_expected: float = 5.0) -> float:
    """χ² goodness-of-fit p-value; cells expected fewer than ``min_expected`` times are pooled into one."""
    n = counts.sum().item()
    expected = probs * n
    big = expected >= min_expected
    assert (counts[probs == 0] == 0).all(), "a token of probability zero was emitted"
    obs = torch.cat([counts[big], counts[~big].sum(0, keepdim=True)]).double()
    exp = torch.cat([expected[big], expected[~big].sum(0, keepdim=True)]).double()
    if exp[-1] < 1e-12:
        obs, exp = obs[:-1], exp[:-1]
    exp = exp * obs.sum() / exp.sum()
    return float(chisquare(obs.numpy(), exp.numpy()).pvalue)


def _exact_joint(target: GPT, prompt: torch.Tensor, n_new: int, **shape) -> torch.Tensor:
    """P(x_1 … x_n) under the target's shaped distribution, over all V**n continuations (flattened)."""
    probs = torch.ones(1, dtype=torch.float64)
    for k in range(n_new):
        rows = torch.tensor(list(itertools.product(range(V), repeat=k)), dtype=torch.long).reshape(V ** k, k)
        ctx = torch.cat([prompt.expand(V ** k, -1), rows], dim=1)
        with torch.no_grad():
            nxt = spec.probabilities(target(ctx)[0][:, -1].double(), **shape)     # (V**k, V)
        probs = (probs[:, None] * nxt).reshape(-1)
    return probs


def test_probabilities_are_what_sample_draws_from():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4, 11, generator=g) * 3
    assert torch.equal(spec.probabilities(z, 0), torch.nn.functional.one_hot(z.argmax(-1), 11).float())
    shaped = spec.probabilities(z, 0.7, top_k=4, top_p=0.9)
    assert torch.allclose(shaped.sum(-1), torch.ones(4))
    assert ((shaped > 0).sum(-1) <= 4).all()
    # the same generator state gives the same draw from sample() and from multinomial(probabilities)
    a = sampling.sample(z, 0.7, top_k=4, top_p=0.9, generator=torch.Generator().manual_seed(3))
    b = torch.multinomial(shaped, 1, generator=torch.Generator().manual_seed(3))[:, 0]
    assert torch.equal(a, b)


def test_residual_makes_every_emitted_token_follow_p():
    # P(emit x) = q(x)·min(1, p(x)/q(x)) + (1 − β)·residual(x) = p(x), exactly
    g = torch.Generator().manual_seed(1)
    p = torch.softmax(torch.randn(6, 9, generator=g, dtype=torch.float64) * 2, -1)
    q = torch.softmax(torch.randn(6, 9, generator=g, dtype=torch.float64) * 2, -1)
    q[0] = p[0]                                                    # identical rows: nothing can be rejected
    q[1, :4] = 0
    q[1] /= q[1].sum()                                             # a draft that never proposes some tokens
    beta = spec.acceptance_probability(p, q)
    emitted = torch.minimum(p, q) + (1 - beta)[:, None] * spec.residual(p, q)
    torch.testing.assert_close(emitted, p, rtol=0, atol=1e-15)
    assert torch.equal(spec.residual(p[0], q[0]), p[0])
    assert (spec.residual(p, q) >= 0).all()


def test_accept_count_stops_at_the_first_rejection_and_checks_shapes():
    p = torch.tensor([[0.5, 0.5], [0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])    # γ = 3
    q = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.5, 0.5]])
    drafts = torch.tensor([0, 0, 0])
    # ratios p/q: 0.5, 0 (p = 0: never accepted, even with u = 0), 2
    assert spec.accept_count(p, q, drafts, torch.tensor([0.4, 0.0, 0.0])).item() == 1
    assert spec.accept_count(p, q, drafts, torch.tensor([0.6, 0.0, 0.0])).item() == 0
    assert spec.accept_count(p, q, torch.tensor([0, 1, 0]), torch.tensor([0.4, 0.999, 0.999])).item() == 3
    with pytest.raises(ValueError, match="γ"):
        spec.accept_count(p[:3], q, drafts, torch.zeros(3))


def test_speculative_step_first_token_follows_p_in_a_batch():
    g = torch.Generator().manual_seed(2)
    gamma, n = 3, 40_000
    p = torch.softmax(torch.randn(gamma + 1, 7, generator=g) * 2, -1)
    q = torch.softmax(torch.randn(gamma, 7, generator=g) * 2, -1)
    drafts = torch.stack([torch.multinomial(q[i], n, replacement=True, generator=g) for i in range(gamma)], -1)
    k, nxt = spec.speculative_step(p.expand(n, -1, -1), q.expand(n, -1, -1), drafts, g)
    first = torch.where(k > 0, drafts[:, 0], nxt)
    assert _pooled_chisquare(torch.bincount(first, minlength=7), p[0]) > 1e-3
    # the draft's own first token would fail the same test
    assert _pooled_chisquare(torch.bincount(drafts[:, 0], minlength=7), p[0]) < 1e-6


@pytest.mark.parametrize("gamma, shape", [(1, dict(temperature=1.0)), (3, dict(temperature=0.8, top_k=3))])
def test_generated_sequences_follow_the_target_distribution(gamma, shape):
    """χ² over all V³ continuations of three tokens, against exact target probabilities (enumerated)."""
    target, draft = _model(2, seed=0), _model(1, seed=1)
    prompt = torch.tensor([[1, 3]])
    n_new, runs = 3, 3000
    exact = _exact_joint(target, prompt, n_new, **shape)
    g = torch.Generator().manual_seed(10 + gamma)
    counts = torch.zeros(V ** n_new, dtype=torch.long)
    accepted = judged = 0
    for _ in range(runs):
        out, stats = spec.speculative_generate(target, draft, prompt, n_new, gamma=gamma, generator=g, **shape)
        x = out[0, prompt.shape[1]:].tolist()
        counts[sum(t * V ** (n_new - 1 - i) for i, t in enumerate(x))] += 1
        assert stats.tokens == n_new
        accepted += sum(stats.accepted)
        judged += sum(k + (k < g_) for g_, k in zip(stats.proposed, stats.accepted))
    assert 0.2 < accepted / judged < 0.95, "the test needs both acceptances and rejections"
    assert _pooled_chisquare(counts, exact) > 1e-3


def test_greedy_equals_target_greedy_and_a_perfect_draft_is_always_accepted():
    target, draft = _model(2, seed=3, vocab=11, block=40), _model(1, seed=4, vocab=11, block=40)
    g = torch.Generator().manual_seed(0)
    for gamma in (1, 2, 5, 40):
        for _ in range(3):
            prompt = torch.randint(0, 11, (1, 1 + int(torch.randint(0, 6, (1,), generator=g))), generator=g)
            n_new = 40 - prompt.shape[1]
            want = target.generate(prompt, n_new, temperature=0, use_cache=True)
            got, stats = spec.speculative_generate(target, draft, prompt, n_new, gamma=gamma, temperature=0)
            assert torch.equal(got, want), gamma
            assert stats.tokens == n_new
    prompt = torch.tensor([[2, 7]])
    out, stats = spec.speculative_generate(target, target, prompt, 30, gamma=4, generator=g)
    assert stats.accepted[:-1] == [4] * (stats.steps - 1) and stats.steps == math.ceil(30 / 5)
    assert stats.acceptance_rate == 1.0


def test_same_seed_same_output():
    target, draft = _model(2, seed=5), _model(1, seed=6)
    prompt = torch.tensor([[0]])
    runs = [spec.speculative_generate(target, draft, prompt, 12, gamma=3, generator=torch.Generator().manual_seed(7))
            for _ in range(2)]
    assert torch.equal(runs[0][0], runs[1][0]) and runs[0][1].accepted == runs[1][1].accepted
    assert spec.speculative_generate(target, draft, prompt, 0)[0].tolist() == [[0]]


def test_truncated_cache_continues_exactly():
    m = _model(2, seed=8).double()
    ids = torch.randint(0, V, (1, 12), generator=torch.Generator().manual_seed(0))
    other = (ids + 1) % V
    cache = m.new_cache()
    with torch.no_grad():
        m(torch.cat([ids[:, :5], other[:, 5:9]], 1), cache=cache)       # 4 positions that get rejected
        cache.truncate(5)
        assert cache.length == 5
        got = m(ids[:, 5:], cache=cache)[0]
        want = m(ids)[0][:, 5:]
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


def test_bad_inputs_are_refused_with_the_sizes():
    target, draft = _model(2, seed=0), _model(1, seed=1, vocab=V + 2)
    with pytest.raises(ValueError, match=rf"vocab_size={V}\b.*vocab_size={V + 2}"):
        spec.speculative_generate(target, draft, torch.tensor([[0]]), 3)
    same = _model(1, seed=1)
    with pytest.raises(ValueError, match="block_size"):
        spec.speculative_generate(target, same, torch.tensor([[0]]), 16)
    with pytest.raises(ValueError, match="gamma"):
        spec.speculative_generate(target, same, torch.tensor([[0]]), 3, gamma=0)
    with pytest.raises(ValueError, match=r"\(1, T\)"):
        spec.speculative_generate(target, same, torch.zeros(2, 3, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="alpha"):
        spec.expected_tokens_per_step(1.5, 3)


def test_expected_tokens_is_the_truncated_geometric_sum():
    for alpha in (0.0, 0.3, 0.8, 0.999):
        for gamma in (0, 1, 4, 9):
            assert math.isclose(spec.expected_tokens_per_step(alpha, gamma), sum(alpha ** k for k in range(gamma + 1)),
                                rel_tol=1e-9)
    assert spec.expected_tokens_per_step(1.0, 4) == 5
    assert math.isclose(spec.expected_speedup(0.8, 4, 0.1), spec.expected_tokens_per_step(0.8, 4) / 1.4)


def test_cost_model_and_cache_cut_refuse_bad_values():
    with pytest.raises(ValueError, match="cost ratio c"):
        spec.expected_speedup(0.8, 4, -0.1)
    with pytest.raises(ValueError, match="gamma"):
        spec.expected_tokens_per_step(0.5, -1)
    with pytest.raises(ValueError, match="length"):
        _model(1, seed=0).new_cache().truncate(-1)
    # a draft that costs as much as the target and is always right only breaks even
    assert math.isclose(spec.expected_speedup(1.0, 4, 1.0), 1.0)
