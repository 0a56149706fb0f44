"""Sparse and dense retrieval for retrieval-augmented generation (RAG).

Taught in p3-v. The pieces, each small:

* :func:`tokenize` and :func:`chunk` turn text into index terms and into
  overlapping passages (p3-v-chunking);
* :class:`TfIdf` scores documents by the cosine of smoothed TF-IDF vectors,
  the same numbers as scikit-learn's ``TfidfVectorizer`` with ``norm="l2"``
  (p3-v-tfidf);
* :class:`BM25` (and its :func:`bm25_idf`) is Okapi BM25 with saturation ``k1`` and length
  normalisation ``b``; its IDF, floor included, is the one of
  ``rank_bm25.BM25Okapi``, so the scores are equal to that package's
  (p3-v-bm25);
* :func:`cosine_top_k` is exact vector search over embeddings (p3-v-dense);
* :func:`recall_at_k`, :func:`mrr` and :func:`reciprocal_rank_fusion`
  evaluate and combine rankings (p3-v-eval);
* :func:`load_corpus` and :func:`load_questions` read the snapshot of the
  book's glossary and chapters and the labelled question set shipped in
  ``book/data/rag`` (rebuilt by ``tools/build_rag_corpus.py``).

Bad input fails early with a message that names the argument:

>>> BM25([])
Traceback (most recent call last):
...
ValueError: docs is empty: an index needs at least one document
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.resources import files

import numpy as np
from scipy import sparse

_WORD = re.compile(r"[^\W_]+")


def tokenize(text: str) -> list[str]:
    """Lower-cased runs of letters and digits (any script); everything else separates.

    >>> tokenize("BM25's k1 = 1.5, b = 0.75 — naïve Bayes")
    ['bm25', 's', 'k1', '1', '5', 'b', '0', '75', 'naïve', 'bayes']
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return _WORD.findall(text.lower())


def chunk(text: str, size: int, overlap: int = 0) -> list[str]:
    """Split ``text`` into passages of ``size`` whitespace-separated words, consecutive ones sharing ``overlap``.

    The windows start every ``size - overlap`` words; the last one ends at the
    last word, so every word is in at least one passage. Empty text gives no
    passages.

    >>> chunk("a b c d e f g", size=3, overlap=1)
    ['a b c', 'c d e', 'e f g']
    >>> chunk("a b c d", size=3, overlap=1)
    ['a b c', 'c d']
    """
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int (words per passage), got {size!r}")
    if not isinstance(overlap, int) or not 0 <= overlap < size:
        raise ValueError(f"overlap must be an int with 0 <= overlap < size = {size}, got {overlap!r}")
    words = text.split()
    step = size - overlap
    out = []
    for start in range(0, max(len(words) - overlap, 1), step):
        piece = words[start:start + size]
        if piece:
            out.append(" ".join(piece))
        if start + size >= len(words):
            break
    return out


def _check_docs(docs: Sequence[str]) -> None:
    if isinstance(docs, str):
        raise TypeError("docs must be a sequence of strings, not one string")
    if len(docs) == 0:
        raise ValueError("docs is empty: an index needs at least one document")


def _check_k(k: int) -> None:
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")


class _SparseIndex:
    """Shared bookkeeping: the vocabulary, the document-term counts and ``top_k``."""

    def __init__(self, docs: Sequence[str], tokenizer: Callable[[str], list[str]]):
        _check_docs(docs)
        self.tokenizer = tokenizer
        tokens = [tokenizer(d) for d in docs]
        if not any(tokens):
            raise ValueError(f"docs has {len(docs)} document(s) but no tokens: every document is empty")
        self.vocab: dict[str, int] = {}
        rows, cols, vals = [], [], []
        for i, toks in enumerate(tokens):
            for term, n in Counter(toks).items():
                rows.append(i)
                cols.append(self.vocab.setdefault(term, len(self.vocab)))
                vals.append(n)
        self.n_docs = len(docs)
        # tf[d, t]: how often term t occurs in document d   (N, |V|), sparse
        self.tf = sparse.csr_matrix((np.array(vals, dtype=np.float64), (rows, cols)),
                                    shape=(self.n_docs, len(self.vocab)))
        self.doc_len = np.array([len(t) for t in tokens], dtype=np.float64)
        self.df = np.bincount(np.array(cols, dtype=np.int64), minlength=len(self.vocab)).astype(np.float64)

    def _query_counts(self, query: str) -> np.ndarray:
        if not isinstance(query, str):
            raise TypeError(f"query must be a str, got {type(query).__name__}")
        toks = self.tokenizer(query)
        if not toks:
            raise ValueError(f"query {query!r} has no tokens: nothing to search for")
        q = np.zeros(len(self.vocab))
        for term, n in Counter(toks).items():
            if term in self.vocab:
                q[self.vocab[term]] = n
        return q

    def scores(self, query: str) -> np.ndarray:  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    def top_k(self, query: str, k: int) -> np.ndarray:
        """Indices of the ``k`` best-scoring documents, best first (ties: the lower index first)."""
        _check_k(k)
        s = self.scores(query)
        return np.lexsort((np.arange(len(s)), -s))[:k]


class TfIdf(_SparseIndex):
    """Cosine similarity of TF-IDF vectors, Eqs. (p3-v-tf-idf) and (p3-v-cosine).

    ``idf(t) = ln((1 + N) / (1 + df(t))) + 1`` with ``smooth_idf`` (else
    ``ln(N / df(t)) + 1``), term frequency raw counts (``1 + ln tf`` with
    ``sublinear_tf``), document and query vectors divided by their Euclidean
    norm: the conventions of scikit-learn's ``TfidfVectorizer``.

    >>> index = TfIdf(["the cat sat", "the dog sat", "cat cat cat"])
    >>> index.top_k("cat", 2).tolist()
    [2, 0]
    """

    def __init__(self, docs: Sequence[str], *, smooth_idf: bool = True, sublinear_tf: bool = False,
                 tokenizer: Callable[[str], list[str]] = tokenize):
        super().__init__(docs, tokenizer)
        self.smooth_idf, self.sublinear_tf = smooth_idf, sublinear_tf
        n, df = self.n_docs, self.df
        self.idf = np.log((1 + n) / (1 + df)) + 1 if smooth_idf else np.log(n / df) + 1
        w = self.tf.copy()
        if sublinear_tf:
            w.data = 1 + np.log(w.data)
        w = w.multiply(self.idf[None, :]).tocsr()
        norms = np.sqrt(np.asarray(w.multiply(w).sum(1))).ravel()
        # rows of unit length; an empty document stays the zero vector
        self.weights = sparse.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ w

    def scores(self, query: str) -> np.ndarray:
        """Cosine of the query's TF-IDF vector with every document's, shape (N,); 0 if no query term is known."""
        q = self._query_counts(query)
        if self.sublinear_tf:
            q[q > 0] = 1 + np.log(q[q > 0])
        q = q * self.idf
        norm = np.linalg.norm(q)
        if norm == 0:
            return np.zeros(self.n_docs)
        return np.asarray(self.weights @ (q / norm)).ravel()


def bm25_idf(df: np.ndarray, n_docs: int, epsilon: float = 0.25) -> np.ndarray:
    """The IDF of Okapi BM25 as ``rank_bm25.BM25Okapi`` computes it, Eq. (p3-v-idf).

    ``ln((N − df + 0.5) / (df + 0.5))`` for every term; the terms whose value
    is negative (those in more than half of the N documents) get
    ``epsilon`` times the mean of the unfloored values instead.

    >>> bm25_idf(np.array([1, 2, 4]), n_docs=5).round(3).tolist()
    [1.099, 0.336, 0.028]
    """
    df = np.asarray(df, dtype=np.float64)
    if df.ndim != 1 or df.size == 0:
        raise ValueError(f"df must be a non-empty 1-d array of document frequencies, got shape {df.shape}")
    if not isinstance(n_docs, (int, np.integer)) or n_docs < 1 or (df < 1).any() or (df > n_docs).any():
        raise ValueError(f"need n_docs >= 1 and 1 <= df <= n_docs, got n_docs={n_docs!r}, df in "
                         f"[{df.min():g}, {df.max():g}]")
    idf = np.log(n_docs - df + 0.5) - np.log(df + 0.5)
    return np.where(idf < 0, epsilon * idf.mean(), idf)


class BM25(_SparseIndex):
    """Okapi BM25, Eq. (p3-v-bm25), with the IDF of ``rank_bm25.BM25Okapi``.

    ``score(q, d) = Σ_{t in q} idf(t) · tf (k1 + 1) / (tf + k1 (1 − b + b |d| / avgdl))``,
    summed over the query's tokens (a repeated query word counts each time).
    ``idf(t) = ln((N − df + 0.5) / (df + 0.5))``, the Robertson–Spärck Jones
    weight; a term in more than half of the documents would get a negative
    weight, and, as in ``rank_bm25``, it gets ``epsilon`` times the mean IDF
    of the vocabulary instead. ``k1 = 0`` makes the term frequency binary;
    ``b = 0`` turns off length normalisation.

    >>> index = BM25(["the cat sat", "the dog sat", "a cat and a cat", "dogs bark", "fish swim"])
    >>> index.top_k("cat", 2).tolist()
    [2, 0]
    """

    def __init__(self, docs: Sequence[str], *, k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25,
                 tokenizer: Callable[[str], list[str]] = tokenize):
        if not (isinstance(k1, (int, float)) and math.isfinite(k1) and k1 >= 0):
            raise ValueError(f"k1 must be a finite number >= 0, got {k1!r}")
        if not (isinstance(b, (int, float)) and 0 <= b <= 1):
            raise ValueError(f"b must be in [0, 1], got {b!r}")
        super().__init__(docs, tokenizer)
        self.k1, self.b, self.epsilon = float(k1), float(b), float(epsilon)
        self.idf = bm25_idf(self.df, self.n_docs, epsilon)
        self.avgdl = float(self.doc_len.mean())
        tf = self.tf.tocoo()
        norm = k1 * (1 - b + b * self.doc_len[tf.row] / self.avgdl)     # the length-normalised k1 of each entry
        vals = self.idf[tf.col] * tf.data * (k1 + 1) / (tf.data + norm)
        # weights[d, t]: the contribution of one occurrence of t in the query to the score of d   (N, |V|)
        self.weights = sparse.csr_matrix((vals, (tf.row, tf.col)), shape=self.tf.shape)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for ``query``, shape (N,)."""
        return np.asarray(self.weights @ self._query_counts(query)).ravel()


def cosine_top_k(query: np.ndarray, docs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact vector search: the ``k`` rows of ``docs`` (N, D) with the largest cosine to each query (Q, D) or (D,).

    Returns ``(indices, cosines)``, each (Q, k) (or (k,) for one query), best
    first; ties go to the lower index.
    """
    query, docs = np.asarray(query, dtype=np.float64), np.asarray(docs, dtype=np.float64)
    if docs.ndim != 2 or docs.shape[0] == 0:
        raise ValueError(f"docs must be a non-empty (N, D) array of embeddings, got shape {docs.shape}")
    single = query.ndim == 1
    q = query[None] if single else query
    if q.ndim != 2 or q.shape[0] == 0 or q.shape[1] != docs.shape[1]:
        raise ValueError(f"query must be (D,) or (Q, D) with D = {docs.shape[1]}, got shape {query.shape}")
    _check_k(k)

    def unit(x):
        n = np.linalg.norm(x, axis=1, keepdims=True)
        return np.divide(x, n, out=np.zeros_like(x), where=n > 0)

    cos = unit(q) @ unit(docs).T                                          # (Q, N)
    idx = np.stack([np.lexsort((np.arange(docs.shape[0]), -row))[:k] for row in cos])
    out = idx, np.take_along_axis(cos, idx, 1)
    return (out[0][0], out[1][0]) if single else out


def _check_eval(rankings: Sequence[Sequence[str]], relevant: Sequence[Sequence[str]]) -> None:
    if len(rankings) == 0:
        raise ValueError("rankings is empty: evaluate at least one query")
    if len(rankings) != len(relevant):
        raise ValueError(f"rankings has {len(rankings)} queries but relevant has {len(relevant)}")
    for i, rel in enumerate(relevant):
        if len(rel) == 0:
            raise ValueError(f"relevant[{i}] is empty: every query needs at least one relevant id")


def recall_at_k(rankings: Sequence[Sequence[str]], relevant: Sequence[Sequence[str]], k: int) -> float:
    """Mean over queries of the fraction of a query's relevant ids found in its top ``k``, Eq. (p3-v-recall).

    >>> recall_at_k([["a", "b", "c"], ["x", "y", "z"]], [{"b"}, {"z", "w"}], k=2)
    0.5
    """
    _check_eval(rankings, relevant)
    _check_k(k)
    return float(np.mean([len(set(r[:k]) & set(rel)) / len(set(rel)) for r, rel in zip(rankings, relevant)]))


def mrr(rankings: Sequence[Sequence[str]], relevant: Sequence[Sequence[str]]) -> float:
    """Mean reciprocal rank of the first relevant id (0 for a query with none ranked), Eq. (p3-v-mrr).

    >>> mrr([["a", "b", "c"], ["x", "y", "z"]], [{"b"}, {"q"}])
    0.25
    """
    _check_eval(rankings, relevant)
    total = 0.0
    for r, rel in zip(rankings, relevant):
        rel = set(rel)
        total += next((1 / (i + 1) for i, d in enumerate(r) if d in rel), 0.0)
    return total / len(rankings)


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = 60) -> list[str]:
    """Fuse several rankings of one query: sort ids by ``Σ 1 / (k + rank)``, ranks from 1, Eq. (p3-v-rrf).

    An id missing from a ranking contributes nothing for it. Ties keep the
    order in which ids are first met (ranking by ranking).

    >>> reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]], k=60)
    ['a', 'c', 'b', 'd']
    """
    if len(rankings) == 0:
        raise ValueError("rankings is empty: fuse at least one ranking")
    if not isinstance(k, (int, float)) or k < 0:
        raise ValueError(f"k must be a number >= 0, got {k!r}")
    score: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            score[doc] = score.get(doc, 0.0) + 1.0 / (k + rank)
    order = {doc: i for i, doc in enumerate(score)}
    return sorted(score, key=lambda d: (-score[d], order[d]))


@dataclass(frozen=True)
class Doc:
    """One retrievable unit: a glossary definition or a chunk of a chapter's prose."""

    id: str        # "g:<slug of the term>" or "<section label>#<chunk number>"
    source: str    # "glossary/terms.yml#<labels of the sections teaching it>" or "<notebook path>#<section label>"
    title: str     # the term, or the section heading
    text: str


@dataclass(frozen=True)
class Question:
    """A labelled question: the ids of the documents that answer it, and what kind of match it tests."""

    id: str
    question: str
    relevant: tuple[str, ...]
    kind: str      # "paraphrase", "mismatch" (few words shared with the answer) or "keyword"


def _read_jsonl(name: str) -> list[dict]:
    text = files("book.data.rag").joinpath(name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def load_corpus() -> list[Doc]:
    """The shipped snapshot of the book's glossary and chapter prose, one :class:`Doc` per passage."""
    return [Doc(**row) for row in _read_jsonl("corpus.jsonl")]


def load_questions() -> list[Question]:
    """The labelled question set written for p3-v-eval (questions are not in the corpus)."""
    return [Question(id=r["id"], question=r["question"], relevant=tuple(r["relevant"]), kind=r["kind"])
            for r in _read_jsonl("questions.jsonl")]
