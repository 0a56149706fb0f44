"""Exercise checkers for p3-v (retrieval-augmented generation).

The references are :mod:`book.retrieval`: the BM25 IDF with its floor
(:func:`~book.retrieval.bm25_idf`), :func:`~book.retrieval.recall_at_k`,
:func:`~book.retrieval.mrr` and :func:`~book.retrieval.reciprocal_rank_fusion`.
Inputs are awkward on purpose: a term in every document, a query with several
relevant ids, relevant ids ranked nowhere, k larger than the ranking, rankings
of different lengths that share only some ids.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from book import retrieval as R
from book.exercises import passed


def check_bm25_idf(fn: Callable[..., np.ndarray]) -> None:
    """``fn(df, n_docs, epsilon=0.25)`` -> the IDF of every term, as :func:`book.retrieval.bm25_idf`."""
    cases = [(np.array([1, 2, 3]), 10), (np.array([1, 2, 4, 5]), 5), (np.array([7]), 7),
             (np.array([1, 1, 600, 999, 1000]), 1000), (np.array([3, 50, 2]), 60)]
    for df, n in cases:
        want = R.bm25_idf(df, n, 0.25)
        got = np.asarray(fn(df.copy(), n, 0.25), dtype=np.float64)
        if got.shape == want.shape and np.allclose(got, want, rtol=1e-9, atol=1e-12):
            continue
        raw = np.log((n - df + 0.5) / (df + 0.5))
        if got.shape != want.shape:
            hint = f"return one IDF per term, shape {want.shape}, got {got.shape}"
        elif np.allclose(got, raw):
            hint = ("a term in more than half of the documents gets a negative IDF; rank_bm25 replaces it by "
                    "epsilon times the mean IDF of the vocabulary")
        elif np.allclose(got, np.log1p((n - df + 0.5) / (df + 0.5))):
            hint = "that is Lucene's ln(1 + …) variant; rank_bm25 uses ln((N − df + 0.5)/(df + 0.5)) with a floor"
        elif np.allclose(got, np.log(n / df)):
            hint = "BM25's IDF is ln((N − df + 0.5)/(df + 0.5)), not ln(N/df)"
        else:
            hint = "floor with epsilon × the mean of the unfloored IDFs (negative ones included)"
        raise AssertionError(f"idf for df={df.tolist()}, N={n}: got {np.round(got, 4).tolist()}, expected "
                             f"{np.round(want, 4).tolist()}: {hint}")
    passed(f"BM25 idf correct on {len(cases)} cases, terms in every document included")


_RANKINGS = [["a", "b", "c", "d", "e"], ["x", "y", "z"], ["p", "q", "r", "s"], ["m", "n", "o", "t"]]
_RELEVANT = [{"c"}, {"z", "w"}, {"nowhere"}, {"m", "o", "t"}]


def check_recall_at_k(fn: Callable[..., float]) -> None:
    """``fn(rankings, relevant, k)``: mean over queries of |relevant ∩ top k| / |relevant|."""
    for k in (1, 2, 3, 4, 10):
        want = R.recall_at_k(_RANKINGS, _RELEVANT, k)
        got = fn([list(r) for r in _RANKINGS], [set(r) for r in _RELEVANT], k)
        if isinstance(got, (int, float, np.floating)) and math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12):
            continue
        hit = float(np.mean([bool(set(r[:k]) & rel) for r, rel in zip(_RANKINGS, _RELEVANT)]))
        if isinstance(got, (int, float, np.floating)) and math.isclose(got, hit, rel_tol=1e-9):
            hint = "that is the hit rate (any relevant id in the top k); recall divides the number found by |relevant|"
        else:
            hint = "for each query count its relevant ids among the first k, divide by how many it has, then average"
        raise AssertionError(f"recall@{k} = {got}, expected {want:.6g}: {hint}")
    passed("recall@k correct for k = 1 … 10, with several relevant ids per query and some never ranked")


def check_mrr(fn: Callable[..., float]) -> None:
    """``fn(rankings, relevant)``: mean over queries of 1 / (rank of the first relevant id), 0 if none is ranked."""
    want = R.mrr(_RANKINGS, _RELEVANT)
    got = fn([list(r) for r in _RANKINGS], [set(r) for r in _RELEVANT])
    if isinstance(got, (int, float, np.floating)) and math.isclose(got, want, rel_tol=1e-9):
        passed("MRR correct, a query with no relevant id ranked included")
        return
    zero_based = np.mean([next((1 / i if i else 1.0 for i, d in enumerate(r) if d in rel), 0.0)
                          for r, rel in zip(_RANKINGS, _RELEVANT)])
    if isinstance(got, (int, float, np.floating)) and math.isclose(got, zero_based, rel_tol=1e-9):
        hint = "ranks start at 1: the first position scores 1, the second 1/2"
    else:
        hint = "take the first relevant id only; a query without one contributes 0, and it still counts in the mean"
    raise AssertionError(f"MRR = {got}, expected {want:.6g}: {hint}")


def check_rrf(fn: Callable[..., list]) -> None:
    """``fn(rankings, k=60)`` -> ids sorted by Σ 1/(k + rank), as :func:`book.retrieval.reciprocal_rank_fusion`."""
    cases = [([["a", "b", "c"], ["c", "a", "d"]], 60),
             ([["d1", "d2", "d3", "d4"], ["d4", "d3"], ["d5", "d1"]], 60),
             ([["x", "y"], ["y", "z"], ["z", "x"]], 1),
             ([["a", "x"], ["b", "x"]], 1),
             ([["u", "v", "w"]], 0)]
    for rankings, k in cases:
        want = R.reciprocal_rank_fusion(rankings, k=k)
        got = list(fn([list(r) for r in rankings], k=k))
        if got == want:
            continue
        if sorted(got) != sorted(want):
            hint = "every id that appears in any ranking must appear once in the fused list"
        else:
            score = {}
            for r in rankings:
                for i, d in enumerate(r):
                    score[d] = score.get(d, 0.0) + 1 / (k + i)
            if k and got == sorted(score, key=lambda d: -score[d]):
                hint = "ranks start at 1: the top document adds 1/(k + 1)"
            else:
                hint = "add 1/(k + rank) over the rankings an id appears in; ties keep the order ids are first met"
        raise AssertionError(f"fusing {rankings} with k={k}: got {got}, expected {want}: {hint}")
    passed(f"reciprocal rank fusion correct on {len(cases)} cases, k = 0 and three rankings included")
