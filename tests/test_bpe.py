"""Byte-level BPE: exact round trips on arbitrary Unicode (property-based), merges, errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from book.data import stories
from book.tokenizers.bpe import BPETokenizer, chunks, merge

TOK = BPETokenizer.train(stories.text(200, seed=0) + "naïve café 北京 🙂 — \t\n", vocab_size=400)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_decode_encode_is_identity_on_any_unicode(s):
    assert TOK.decode(TOK.encode(s)) == s


@settings(max_examples=100, deadline=None)
@given(st.text())
def test_chunks_concatenate_back(s):
    assert "".join(chunks(s)) == s


@pytest.mark.parametrize("s", ["", " ", "\n\n", "🙂🙂", "\ud800 lone surrogate", "tom ran . the end .\n"])
def test_round_trip_ugly_strings(s):
    assert TOK.decode(TOK.encode(s)) == s


def test_merges_compress_the_training_text():
    text = stories.text(200, seed=0)
    assert len(TOK.encode(text)) < 0.4 * len(text.encode("utf-8"))
    assert TOK.vocab_size == 400 and len(TOK.vocab) == 400


def test_training_is_deterministic_and_stops_when_nothing_repeats():
    a = BPETokenizer.train("aaabdaaabac", vocab_size=300)
    assert a.merges == BPETokenizer.train("aaabdaaabac", vocab_size=300).merges
    assert a.vocab_size < 300  # only a few pairs occur twice
    assert list(a.merges)[0] == (97, 97)  # "aa" is the most frequent pair


def test_merge_is_left_to_right_non_overlapping():
    assert merge((1, 1, 1), (1, 1), 9) == (9, 1)


def test_errors():
    with pytest.raises(ValueError, match="at least 256"):
        BPETokenizer.train("x", 100)
    with pytest.raises(ValueError, match="token id 999 is outside"):
        TOK.decode([999])
