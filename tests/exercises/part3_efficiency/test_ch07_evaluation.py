"""The p3-vii exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from book.exercises.part3_efficiency import ch07_evaluation as ex


def _ppl(logprobs, mask):
    return math.exp(-float((logprobs * mask).sum() / mask.sum()))


def test_perplexity_accepts_a_masked_mean_and_rejects_slips(capsys):
    ex.check_perplexity(_ppl)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="negative"):
        ex.check_perplexity(lambda lp, m: math.exp(float((lp * m).sum() / m.sum())))
    with pytest.raises(AssertionError, match="padding"):
        ex.check_perplexity(lambda lp, m: math.exp(-float(lp.mean())))
    with pytest.raises(AssertionError, match="per-sequence"):
        ex.check_perplexity(lambda lp, m: float(np.mean([math.exp(-float((lp[i] * m[i]).sum() / m[i].sum()))
                                                         for i in range(len(lp))])))


def _percentile(x, n_boot, level, generator):
    idx = torch.randint(0, len(x), (n_boot, len(x)), generator=generator)
    means = x[idx].mean(1)
    return tuple(torch.quantile(means, torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=means.dtype)).tolist())


def test_bootstrap_interval_accepts_an_independent_answer_and_rejects_slips(capsys):
    ex.check_bootstrap_interval(_percentile)
    assert "✓" in capsys.readouterr().out

    def permutation(x, n_boot, level, generator):              # resamples without replacement: zero width
        idx = torch.stack([torch.randperm(len(x), generator=generator) for _ in range(n_boot)])
        means = x[idx].mean(1)
        return float(means.quantile((1 - level) / 2)), float(means.quantile((1 + level) / 2))

    with pytest.raises(AssertionError, match="with\\* replacement"):
        ex.check_bootstrap_interval(permutation)

    def one_sided(x, n_boot, level, generator):                # quantiles (1 - level) and level
        idx = torch.randint(0, len(x), (n_boot, len(x)), generator=generator)
        means = x[idx].mean(1)
        return float(means.quantile(1 - level)), float(means.quantile(level))

    with pytest.raises(AssertionError, match="narrow|wide"):
        ex.check_bootstrap_interval(one_sided)


def _overlap(doc, refs, n):
    grams = set()
    for r in refs:
        w = r.split()
        grams |= {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}
    w = doc.split()
    mine = [tuple(w[i:i + n]) for i in range(len(w) - n + 1)]
    return sum(g in grams for g in mine) / len(mine)


def test_ngram_overlap_accepts_an_independent_answer_and_rejects_slips(capsys):
    ex.check_ngram_overlap(_overlap)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="inside one document"):
        ex.check_ngram_overlap(lambda d, refs, n: _overlap(d, [" ".join(refs)], n))

    def as_a_set(doc, refs, n):
        w = doc.split()
        mine = {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}
        ref = {g for r in refs for g in [tuple(r.split()[i:i + n]) for i in range(len(r.split()) - n + 1)]}
        return len(mine & ref) / len(mine)

    with pytest.raises(AssertionError, match="by position"):
        ex.check_ngram_overlap(as_a_set)
