"""book.retrieval: BM25 by hand and against rank_bm25, TF-IDF against scikit-learn, the metrics, the shipped data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rank_bm25 import BM25Okapi
from sklearn.feature_extraction.text import TfidfVectorizer

from book import retrieval as R

# A corpus small enough to score by hand: N = 5 documents, 12 tokens, avgdl = 2.4.
TINY = ["cat cat dog", "cat fish", "bird", "fish fish fish fish bird", "eel"]


def test_bm25_scores_computed_by_hand():
    index = R.BM25(TINY, k1=1.5, b=0.75)
    assert index.avgdl == pytest.approx(2.4)
    idf_cat = math.log((5 - 2 + 0.5) / (2 + 0.5))            # df(cat) = 2
    d0 = idf_cat * 2 * 2.5 / (2 + 1.5 * (0.25 + 0.75 * 3 / 2.4))
    d1 = idf_cat * 1 * 2.5 / (1 + 1.5 * (0.25 + 0.75 * 2 / 2.4))
    np.testing.assert_allclose(index.scores("cat"), [d0, d1, 0, 0, 0], rtol=1e-12)
    assert index.top_k("cat", 2).tolist() == [0, 1]
    # two query words add; a repeated query word counts twice (as in rank_bm25)
    idf_dog = math.log(4.5 / 1.5)
    dog0 = idf_dog * 2.5 / (1 + 1.5 * (0.25 + 0.75 * 3 / 2.4))
    np.testing.assert_allclose(index.scores("cat dog")[0], d0 + dog0, rtol=1e-12)
    np.testing.assert_allclose(index.scores("cat cat")[1], 2 * d1, rtol=1e-12)
    # unknown words score nothing
    np.testing.assert_array_equal(index.scores("zebra"), np.zeros(5))


def test_bm25_k1_zero_is_binary_and_b_zero_ignores_length():
    binary = R.BM25(TINY, k1=0.0, b=0.75).scores("fish")
    idf_fish = math.log(3.5 / 2.5)
    np.testing.assert_allclose(binary, [0, idf_fish, 0, idf_fish, 0], rtol=1e-12)   # tf = 1 and tf = 4 alike
    two = ["x a", "x a b c d e f g", "h", "i", "j"]          # x in 2 of 5 documents: a positive idf
    no_len = R.BM25(two, k1=1.2, b=0.0).scores("x")
    assert no_len[0] == pytest.approx(no_len[1], rel=1e-12)
    with_len = R.BM25(two, k1=1.2, b=1.0).scores("x")
    assert with_len[0] > with_len[1]
    # saturation: the tf term tends to k1 + 1 as tf grows (b = 0, so no length effect)
    docs = ["t " * n + "pad" for n in (1, 10, 1000)] + ["pad"] * 4
    s = R.BM25(docs, k1=1.2, b=0.0).scores("t")
    idf = math.log((7 - 3 + 0.5) / (3 + 0.5))
    assert s[0] < s[1] < s[2] < idf * 2.2
    assert s[2] == pytest.approx(idf * 2.2 * 1000 / 1001.2, rel=1e-12)


def test_bm25_negative_idf_gets_rank_bm25_floor():
    docs = ["the cat", "the dog", "the fish", "the bird", "eel"]
    index = R.BM25(docs)
    vocab = index.vocab
    raw = {t: math.log(5 - df + 0.5) - math.log(df + 0.5) for t, df in zip(vocab, index.df)}
    assert raw["the"] < 0
    floor = 0.25 * np.mean(list(raw.values()))
    assert index.idf[vocab["the"]] == pytest.approx(floor, rel=1e-12)
    ref = BM25Okapi([d.split() for d in docs])
    np.testing.assert_allclose(index.scores("the cat"), ref.get_scores(["the", "cat"]), rtol=1e-12)


@pytest.mark.parametrize("k1,b", [(1.5, 0.75), (0.9, 0.4), (2.0, 1.0), (1.2, 0.0)])
def test_bm25_equals_rank_bm25_on_the_shipped_corpus(k1, b):
    docs = R.load_corpus()
    texts = [f"{d.title}. {d.text}" for d in docs]
    ours = R.BM25(texts, k1=k1, b=b)
    ref = BM25Okapi([R.tokenize(t) for t in texts], k1=k1, b=b)
    for q in R.load_questions()[:12]:
        want = ref.get_scores(R.tokenize(q.question))
        np.testing.assert_allclose(ours.scores(q.question), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("smooth,sublinear", [(True, False), (False, False), (True, True)])
def test_tfidf_equals_sklearn(smooth, sublinear):
    docs = R.load_corpus()[:400]
    texts = [f"{d.title}. {d.text}" for d in docs] + ["", "¿Qué? ünïcode — naïve"]
    ours = R.TfIdf(texts, smooth_idf=smooth, sublinear_tf=sublinear)
    vec = TfidfVectorizer(tokenizer=R.tokenize, lowercase=False, token_pattern=None, norm="l2",
                          smooth_idf=smooth, sublinear_tf=sublinear)
    X = vec.fit_transform(texts)
    for query in ["How is the gradient of a loss computed?", "attention attention softmax", "naïve cat"]:
        want = (X @ vec.transform([query]).T).toarray().ravel()
        np.testing.assert_allclose(ours.scores(query), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.idf[[ours.vocab[t] for t in vec.get_feature_names_out()]], vec.idf_, rtol=1e-12)


def test_tfidf_ranks_the_repeated_word_first():
    index = R.TfIdf(["the cat sat", "the dog sat", "cat cat cat"])
    assert index.top_k("cat", 3).tolist()[:2] == [2, 0]
    assert index.scores("zebra").tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("cls", [R.BM25, R.TfIdf])
def test_bad_input_names_the_argument(cls):
    with pytest.raises(ValueError, match="docs is empty"):
        cls([])
    with pytest.raises(ValueError, match="no tokens"):
        cls(["", "  ", "!!"])
    with pytest.raises(TypeError, match="docs"):
        cls("one string")
    index = cls(TINY)
    for query in ["", "   ", "?!"]:
        with pytest.raises(ValueError, match="query"):
            index.scores(query)
    with pytest.raises(ValueError, match="k must be"):
        index.top_k("cat", 0)
    assert len(index.top_k("cat", 50)) == len(TINY)


def test_bm25_parameters_are_checked():
    with pytest.raises(ValueError, match="b must"):
        R.BM25(TINY, b=1.5)
    with pytest.raises(ValueError, match="k1 must"):
        R.BM25(TINY, k1=-1)


def test_top_k_breaks_ties_by_index():
    index = R.BM25(["a b", "a b", "c", "a b", "d", "e", "f", "g"])    # df(a) = 3 of 8: a positive idf
    assert index.top_k("a", 3).tolist() == [0, 1, 3]


def test_tokenize_and_chunk():
    assert R.tokenize("Ünïcode_under-score 3.14") == ["ünïcode", "under", "score", "3", "14"]
    assert R.tokenize("") == []
    words = [f"w{i}" for i in range(1823)]
    for size, overlap in [(1, 0), (120, 20), (7, 6), (2000, 5)]:
        pieces = R.chunk(" ".join(words), size, overlap)
        got = [p.split() for p in pieces]
        assert all(1 <= len(g) <= size for g in got)
        assert [w for w in words if not any(w in g for g in got)] == []          # every word is covered
        for a, b in zip(got, got[1:]):
            assert a[-overlap:] == b[:overlap] if overlap else a[-1] != b[0]   # neighbours share `overlap`
        assert got[-1][-1] == words[-1]
    assert R.chunk("", 5, 1) == []
    assert R.chunk("one", 5, 4) == ["one"]
    with pytest.raises(ValueError, match="size"):
        R.chunk("a b", 0)
    with pytest.raises(ValueError, match="overlap"):
        R.chunk("a b", 3, 3)


def test_cosine_top_k_matches_brute_force():
    rng = np.random.default_rng(0)
    docs = rng.normal(size=(781, 17))
    docs[5] = docs[3] * 2.0                                   # same direction as row 3: a tie broken by index
    queries = rng.normal(size=(9, 17))
    queries[0] = docs[3]
    idx, cos = R.cosine_top_k(queries, docs, 10)
    unit = docs / np.linalg.norm(docs, axis=1, keepdims=True)
    for q, row, c in zip(queries, idx, cos):
        full = unit @ (q / np.linalg.norm(q))
        want = sorted(range(len(docs)), key=lambda i: (-full[i], i))[:10]
        assert row.tolist() == want
        np.testing.assert_allclose(c, full[want], rtol=1e-12)
    assert idx[0][:2].tolist() == [3, 5]
    one, _ = R.cosine_top_k(queries[1], docs, 3)
    assert one.tolist() == idx[1][:3].tolist()
    with pytest.raises(ValueError, match="docs"):
        R.cosine_top_k(queries, np.zeros((0, 17)), 3)
    with pytest.raises(ValueError, match="query"):
        R.cosine_top_k(np.zeros((2, 16)), docs, 3)


def test_recall_mrr_and_fusion():
    rankings = [["a", "b", "c", "d"], ["x", "y", "z", "w"], ["p", "q", "r", "s"]]
    relevant = [{"b"}, {"w", "y"}, {"t"}]
    assert R.recall_at_k(rankings, relevant, 1) == 0.0
    assert R.recall_at_k(rankings, relevant, 2) == pytest.approx((1 + 0.5 + 0) / 3)
    assert R.recall_at_k(rankings, relevant, 4) == pytest.approx((1 + 1 + 0) / 3)
    assert R.mrr(rankings, relevant) == pytest.approx((1 / 2 + 1 / 2 + 0) / 3)
    with pytest.raises(ValueError, match="relevant"):
        R.recall_at_k(rankings, [{"a"}, set(), {"b"}], 3)
    with pytest.raises(ValueError, match="rankings"):
        R.mrr([], [])
    fused = R.reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]], k=60)
    want = {"a": 1 / 61 + 1 / 62, "b": 1 / 62, "c": 1 / 63 + 1 / 61, "d": 1 / 63}
    assert fused == sorted(want, key=lambda d: -want[d])
    assert R.reciprocal_rank_fusion([["a", "b"]]) == ["a", "b"]
    with pytest.raises(ValueError, match="rankings"):
        R.reciprocal_rank_fusion([])


def test_shipped_corpus_and_questions():
    docs = R.load_corpus()
    questions = R.load_questions()
    ids = [d.id for d in docs]
    assert len(ids) == len(set(ids))
    assert all(d.text and d.title and d.source for d in docs)
    glossary = [d for d in docs if d.id.startswith("g:")]
    assert len(glossary) >= 150 and len(docs) - len(glossary) >= 500
    assert len(questions) >= 50 and len({q.id for q in questions}) == len(questions)
    missing = [(q.id, r) for q in questions for r in q.relevant if r not in set(ids)]
    assert not missing, f"labelled ids not in the corpus: {missing}"
    assert {q.kind for q in questions} == {"paraphrase", "mismatch", "keyword"}
    corpus_text = " ".join(d.text.lower() for d in docs)
    assert not [q.id for q in questions if q.question.lower().rstrip("?") in corpus_text]
    from importlib.resources import files
    size = files("book.data.rag").joinpath("corpus.jsonl").read_bytes()
    assert len(size) < 1_000_000
