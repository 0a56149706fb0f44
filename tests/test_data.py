"""book.data: shapes, determinism, grammar round trips and error messages."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from book.data import arithmetic, digits, sequences, stories, toy2d


def test_digits_split_is_stratified_and_reproducible():
    a, b = digits.load(), digits.load()
    assert a.X_train.shape == (1347, 64) and a.X_test.shape == (450, 64)
    assert a.X_train.dtype == np.float32 and 0.0 <= a.X_train.min() and a.X_train.max() <= 1.0
    assert np.array_equal(a.y_test, b.y_test)
    assert np.bincount(a.y_test).min() >= 40  # every class present in proportion
    assert a.images_train.shape == (1347, 8, 8)
    with pytest.raises(ValueError, match="test_fraction"):
        digits.load(test_fraction=1.5)


@pytest.mark.parametrize("make", [toy2d.moons, toy2d.blobs, toy2d.gaussian_mixture])
def test_toy_classification_sets(make):
    X, y = make(301, seed=3)
    X2, y2 = make(301, seed=3)
    assert X.shape == (301, 2) and y.shape == (301,) and X.dtype == np.float32
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    assert not np.array_equal(X, make(301, seed=4)[0])


def test_toy_errors_name_the_argument():
    with pytest.raises(ValueError, match="n must be a positive int"):
        toy2d.moons(0)
    with pytest.raises(ValueError, match="modes"):
        toy2d.gaussian_mixture(10, modes=0)


def test_gaussian_mixture_samples_sit_on_their_centres():
    X, k = toy2d.gaussian_mixture(2000, modes=8, std=0.05)
    centres = toy2d.mixture_centres(8)
    assert np.abs(X - centres[k]).max() < 0.5
    assert set(k.tolist()) == set(range(8))


def test_swiss_roll_and_sine():
    assert toy2d.swiss_roll(500).shape == (500, 2)
    x, y = toy2d.noisy_sine(40, noise=0.0)
    assert np.all(np.diff(x) >= 0) and np.allclose(y, np.sin(2 * np.pi * x))


# ------------------------------------------------------------------ stories

def test_every_sampled_story_is_grammatical():
    corpus = stories.corpus(500, seed=1)
    assert all(stories.is_grammatical_story(s) for s in corpus)
    assert stories.grammatical_rate(corpus) == 1.0
    assert stories.corpus(20, seed=1) == corpus[:20]


def test_corpus_uses_the_vocabulary_and_ends_lines():
    txt = stories.text(50, seed=0)
    assert txt.endswith("\n") and txt.count("\n") == 50
    assert set(txt.split()) <= set(stories.VOCAB)
    assert all(stories.WORD_ROLES[w] for w in stories.VOCAB)


@pytest.mark.parametrize("sentence, ok", [
    ("tom saw a big ball .", True),
    ("then she ran near the tree .", True),
    ("the little fox was very happy .", True),
    ("lily found a kite and laughed .", True),
    ("once upon a time there was a red bird named zoe .", True),
    ("the end .", True),
    ("tom saw .", False),             # transitive verb without an object
    ("ball the saw tom .", False),    # word order
    ("the big .", False),
    ("tom ran", False),               # no full stop
    ("", False),
    ("tom flew away .", False),       # words outside the vocabulary
    ("ünïcode ✓ .", False),
])
def test_sentence_checker(sentence, ok):
    assert stories.is_grammatical_sentence(sentence) is ok


def test_shuffled_stories_are_mostly_ungrammatical():
    rng = random.Random(0)
    shuffled = []
    for s in stories.corpus(200, seed=2):
        words = s.split()
        rng.shuffle(words)
        shuffled.append(" ".join(words))
    assert stories.grammatical_rate(shuffled) < 0.2


def test_grammatical_rate_edge_cases():
    assert stories.grammatical_rate("") == 0.0
    assert stories.grammatical_rate([]) == 0.0
    # the unfinished tail is ignored; one good and one bad complete sentence
    assert stories.grammatical_rate("tom ran . ran tom . tom saw") == 0.5


def test_derives_rejects_unknown_symbols():
    with pytest.raises(KeyError, match="unknown grammar symbol"):
        stories.derives("Paragraph", "tom ran .")


# ------------------------------------------------------------------ arithmetic

def test_scratchpad_matches_column_addition():
    assert arithmetic.addition_example(999, 1, scratchpad=True) == "999+1=[9+1+0=0,9+0+1=0,9+0+1=0,0+0+1=1]1000"
    assert arithmetic.multiplication_example(12, 34, scratchpad=True) == "12*34=[12*4=48,12*30=360]408"


@pytest.mark.parametrize("op", ["+", "*"])
@pytest.mark.parametrize("pad", [False, True])
def test_dataset_answers_check(op, pad):
    data = arithmetic.dataset(200, (1, 4), op=op, scratchpad=pad, seed=5)
    assert all(arithmetic.check_answer(line) for line in data)
    assert set("".join(data)) <= set(arithmetic.ALPHABET)


@pytest.mark.parametrize("line", ["12+5=18", "12+5=", "12+5=[2+5+0=7", "hello", "12+5=17x"])
def test_wrong_answers_are_rejected(line):
    assert not arithmetic.check_answer(line)


def test_operand_digits_and_errors():
    rng = random.Random(0)
    for n in (1, 2, 5):
        a, b = arithmetic.random_operands(n, rng)
        assert len(str(a)) == len(str(b)) == n
    with pytest.raises(ValueError, match="op must be"):
        arithmetic.dataset(3, 2, op="-")
    with pytest.raises(ValueError, match="non-negative"):
        arithmetic.addition_scratchpad(-1, 2)


# ------------------------------------------------------------------ sequences

def test_repeated_tokens():
    x = sequences.repeated_tokens(4, 17, 100, seed=3)
    assert x.shape == (4, 34) and x.dtype == torch.long
    assert torch.equal(x[:, :17], x[:, 17:])
    assert torch.equal(x, sequences.repeated_tokens(4, 17, 100, seed=3))
    y = sequences.repeated_tokens(8, 50, 10, seed=1, bos=0)
    assert y.shape == (8, 101) and (y[:, 0] == 0).all() and (y[:, 1:] != 0).all() and y.max() < 10


def test_repeated_tokens_errors():
    with pytest.raises(ValueError, match="vocab_size"):
        sequences.repeated_tokens(1, 5, 1)
    with pytest.raises(ValueError, match="bos token"):
        sequences.repeated_tokens(1, 5, 10, bos=10)


def test_story_domains_shift_the_distribution_but_keep_grammar_and_vocabulary():
    from collections import Counter

    from book.data.stories import DOMAINS, GRAMMAR, VOCAB, WORDS

    for d in DOMAINS.values():        # well-formed: one weight per rule, words from their class
        assert all(len(w) == len(GRAMMAR[k]) for k, w in d["weights"].items())
        assert all(set(ws) <= set(WORDS[k]) for k, ws in d["words"].items())
    general, outdoors = stories.corpus(300, seed=1), stories.corpus(300, seed=1, domain="outdoors")
    assert stories.corpus(300, seed=1, domain="general") == general
    assert stories.grammatical_rate(outdoors) == 1.0
    words = Counter(" ".join(outdoors).split())
    assert set(words) <= set(VOCAB) and words["cat"] == 0 and words["river"] > 0
    assert words["jumped"] / sum(words.values()) > 2 * Counter(" ".join(general).split())["jumped"] / len(
        " ".join(general).split())
    with pytest.raises(ValueError, match="unknown domain 'sea'"):
        stories.corpus(3, domain="sea")
