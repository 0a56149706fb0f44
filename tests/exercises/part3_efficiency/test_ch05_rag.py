"""The p3-v exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from book import retrieval as R
from book.exercises.part3_efficiency import ch05_rag as ex


def test_idf_checker(capsys):
    def idf(df, n_docs, epsilon=0.25):
        raw = np.log((n_docs - df + 0.5) / (df + 0.5))
        return np.where(raw < 0, epsilon * raw.mean(), raw)

    ex.check_bm25_idf(idf)
    ex.check_bm25_idf(R.bm25_idf)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="negative IDF"):
        ex.check_bm25_idf(lambda df, n, epsilon=0.25: np.log((n - df + 0.5) / (df + 0.5)))
    with pytest.raises(AssertionError, match="Lucene"):
        ex.check_bm25_idf(lambda df, n, epsilon=0.25: np.log1p((n - df + 0.5) / (df + 0.5)))
    with pytest.raises(AssertionError, match="ln\\(N/df\\)"):
        ex.check_bm25_idf(lambda df, n, epsilon=0.25: np.log(n / df))

    def floored_mean(df, n, epsilon=0.25):        # the mean taken after clipping at 0
        raw = np.log((n - df + 0.5) / (df + 0.5))
        return np.where(raw < 0, epsilon * np.maximum(raw, 0).mean(), raw)

    with pytest.raises(AssertionError, match="mean"):
        ex.check_bm25_idf(floored_mean)


def test_recall_and_mrr_checkers(capsys):
    def recall(rankings, relevant, k):
        return sum(len(set(r[:k]) & rel) / len(rel) for r, rel in zip(rankings, relevant)) / len(rankings)

    def mrr(rankings, relevant):
        return sum(next((1 / (i + 1) for i, d in enumerate(r) if d in rel), 0.0)
                   for r, rel in zip(rankings, relevant)) / len(rankings)

    ex.check_recall_at_k(recall)
    ex.check_mrr(mrr)
    assert capsys.readouterr().out.count("✓") == 2
    with pytest.raises(AssertionError, match="hit rate"):
        ex.check_recall_at_k(lambda rk, rel, k: float(np.mean([bool(set(r[:k]) & s) for r, s in zip(rk, rel)])))
    with pytest.raises(AssertionError, match="ranks start at 1"):
        ex.check_mrr(lambda rk, rel: float(np.mean([next((1 / i if i else 1.0 for i, d in enumerate(r) if d in s),
                                                         0.0) for r, s in zip(rk, rel)])))
    with pytest.raises(AssertionError, match="contributes 0"):        # averaging only over queries with a hit
        ex.check_mrr(lambda rk, rel: float(np.mean([v for v in (next((1 / (i + 1) for i, d in enumerate(r) if d in s),
                                                                     None) for r, s in zip(rk, rel)) if v])))


def test_rrf_checker(capsys):
    def rrf(rankings, k=60):
        score = {}
        for r in rankings:
            for i, d in enumerate(r, 1):
                score[d] = score.get(d, 0.0) + 1 / (k + i)
        return sorted(score, key=lambda d: -score[d])

    ex.check_rrf(rrf)
    assert "✓" in capsys.readouterr().out

    def zero_based(rankings, k=60):
        score = {}
        for r in rankings:
            for i, d in enumerate(r):
                score[d] = score.get(d, 0.0) + 1 / (k + i) if k + i else math.inf
        return sorted(score, key=lambda d: -score[d])

    with pytest.raises(AssertionError, match="rank|1/"):
        ex.check_rrf(zero_based)
    with pytest.raises(AssertionError, match="once"):
        ex.check_rrf(lambda rankings, k=60: rankings[0])
