"""book.evaluation: perplexity, sliding-window scoring, n-gram overlap and bootstrap intervals (p3-vii)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn
from torch.nn import functional as F

from book import evaluation as ev
from book.nn.gpt import GPT, GPTConfig


class Uniform(nn.Module):
    """Logits that are the same for every token: the uniform model over V tokens."""

    def __init__(self, vocab: int):
        super().__init__()
        self.vocab = vocab
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return torch.zeros(*x.shape, self.vocab) + 0 * self.dummy


def _gpt(vocab=37, block=16, seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab, block_size=block, n_layer=1, n_head=2, d_model=16)).double()


def test_uniform_model_has_perplexity_vocab_size():
    ids = torch.randint(0, 101, (1823,), generator=torch.Generator().manual_seed(0))
    nll = ev.sliding_window_nll(Uniform(101), ids, window=13, stride=5)
    assert nll.shape == (1822,)
    assert abs(ev.perplexity(nll) - 101) < 1e-3          # float32 logits
    assert ev.perplexity(torch.full((7,), math.log(101), dtype=torch.float64)) == pytest.approx(101, rel=1e-12)


def test_perplexity_is_exp_of_torch_cross_entropy():
    g = torch.Generator().manual_seed(1)
    logits, y = torch.randn(781, 29, generator=g, dtype=torch.float64), torch.randint(0, 29, (781,), generator=g)
    nll = F.cross_entropy(logits, y, reduction="none")
    assert ev.perplexity(nll) == pytest.approx(math.exp(F.cross_entropy(logits, y).item()), rel=1e-12)
    assert ev.perplexity(nll.numpy()) == pytest.approx(ev.perplexity(nll.tolist()), rel=1e-12)


@pytest.mark.parametrize("n,window", [(2, 16), (17, 16), (18, 16), (100, 16), (101, 7)])
def test_stride_equal_to_window_is_chunked_evaluation(n, window):
    model = _gpt()
    ids = torch.randint(0, 37, (n,), generator=torch.Generator().manual_seed(n))
    got = ev.sliding_window_nll(model, ids, window=window, stride=window, batch_size=3)
    want = []
    with torch.no_grad():
        for b in range(0, n - 1, window):                        # chunks of inputs, each predicting its next tokens
            x, y = ids[b:min(b + window, n - 1)], ids[b + 1:min(b + window, n - 1) + 1]
            want.append(F.cross_entropy(model(x[None])[0][0], y, reduction="none"))
    assert torch.allclose(got.double(), torch.cat(want), atol=1e-6)


def test_sliding_window_gives_each_token_its_longest_context():
    model = _gpt(block=8)
    ids = torch.randint(0, 37, (60,), generator=torch.Generator().manual_seed(3))
    window, stride = 8, 3
    got = ev.sliding_window_nll(model, ids, window=window, stride=stride)
    with torch.no_grad():
        for t in range(1, 60):
            begin = 0 if t <= window else ((t - window - 1) // stride + 1) * stride   # the window that scores t
            logits = model(ids[None, begin:t])[0][0, -1]
            want = -F.log_softmax(logits, -1)[ids[t]]
            assert abs(got[t - 1].item() - want.item()) < 1e-6, t
    plan = ev.window_plan(60, window, stride)
    context = [t - b for b, e, first in plan for t in range(first, e + 1)]
    assert len(context) == 59 and min(context[window:]) >= window - stride + 1


def test_sliding_window_restores_training_mode():
    model = _gpt().train()
    ev.sliding_window_nll(model, torch.arange(20) % 37)
    assert model.training


def test_window_plan_costs():
    assert len(ev.window_plan(1001, 100, 100)) == 10
    assert len(ev.window_plan(1001, 100, 10)) == 91
    assert ev.window_plan(2, 5, 5) == [(0, 1, 1)]


def test_ngram_overlap_self_disjoint_and_partial():
    doc = "once upon a time there was a cat named tom . tom ran . the end ."
    assert ev.ngram_overlap(doc, ev.ngram_set([doc], 13), 13) == 1.0
    assert ev.ngram_overlap(doc, ev.ngram_set(["x y z w v u"], 3), 3) == 0.0
    assert ev.ngram_overlap([1, 2, 3, 4, 5], ev.ngram_set([[9, 2, 3, 4]], 2), 2) == pytest.approx(0.5)
    # n-grams do not run across documents
    assert ev.ngram_overlap("a b c d", ev.ngram_set(["a b", "c d"], 3), 3) == 0.0


def test_bootstrap_matches_normal_interval_on_a_normal_sample():
    x = torch.randn(400, generator=torch.Generator().manual_seed(5), dtype=torch.float64) * 2 + 1
    ci = ev.bootstrap_ci(x, n_boot=4000, generator=torch.Generator().manual_seed(6))
    lo, hi = ev.normal_ci(x)
    half = (hi - lo) / 2
    assert abs(ci.low - lo) < 0.1 * half and abs(ci.high - hi) < 0.1 * half
    ref = stats.t.interval(0.95, len(x) - 1, loc=x.mean().item(), scale=stats.sem(x.numpy()))
    assert abs(lo - ref[0]) < 0.01 * half and abs(hi - ref[1]) < 0.01 * half
    assert ci.estimate == pytest.approx(x.mean().item()) and ci.estimate in ci


def test_bootstrap_of_a_ratio_and_paired_differences():
    g = torch.Generator().manual_seed(7)
    lengths = torch.randint(5, 50, (300,), generator=g).double()
    sums = lengths * (1.5 + 0.3 * torch.randn(300, generator=g, dtype=torch.float64))
    ci = ev.bootstrap_ci(torch.stack([sums, lengths], 1), stat=lambda v: v[..., 0].sum(1) / v[..., 1].sum(1),
                         n_boot=500, generator=g)
    assert ci.estimate == pytest.approx((sums.sum() / lengths.sum()).item()) and ci.low < ci.estimate < ci.high
    a = torch.randn(200, generator=g, dtype=torch.float64) * 3
    b = a + 0.1 + 0.05 * torch.randn(200, generator=g, dtype=torch.float64)
    paired = ev.paired_bootstrap(a, b, n_boot=1000, generator=torch.Generator().manual_seed(0))
    same = ev.bootstrap_ci(a - b, n_boot=1000, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(paired.samples, same.samples)           # same indices: the mean of differences
    assert paired.high < 0 and paired.width < 0.1 * ev.normal_ci(a)[1] - 0.1 * ev.normal_ci(a)[0]


def test_percentile_interval_is_the_quantiles_of_the_resamples():
    x = np.arange(11.0)
    ci = ev.bootstrap_ci(x, n_boot=999, level=0.8, generator=torch.Generator().manual_seed(2))
    s = ci.samples.numpy()
    assert ci.low == pytest.approx(np.quantile(s, 0.1)) and ci.high == pytest.approx(np.quantile(s, 0.9))


@pytest.mark.parametrize("call,match", [
    (lambda: ev.perplexity([]), "empty"),
    (lambda: ev.perplexity([-0.5, -1.0]), "log p"),
    (lambda: ev.window_plan(100, 8, 9), "stride"),
    (lambda: ev.window_plan(100, 8, 0), "stride"),
    (lambda: ev.window_plan(1, 8, 8), "at least 2 tokens"),
    (lambda: ev.sliding_window_nll(_gpt(block=16), torch.arange(40) % 37, window=32), "block_size=16"),
    (lambda: ev.sliding_window_nll(_gpt(), torch.zeros(2, 20, dtype=torch.long)), "1-D"),
    (lambda: ev.bootstrap_ci([1.0, 2.0], level=95), r"level must be in \(0, 1\)"),
    (lambda: ev.bootstrap_ci([], level=0.9), "empty"),
    (lambda: ev.bootstrap_ci([1.0]), "at least 2"),
    (lambda: ev.paired_bootstrap([1.0, 2.0], [1.0, 2.0, 3.0]), "same units"),
    (lambda: ev.ngram_overlap("a b", set(), 3), "fewer than n=3"),
    (lambda: ev.ngram_overlap("a b c d", ev.ngram_set(["a b c"], 2), 3), "2-grams but n=3"),
])
def test_errors_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
