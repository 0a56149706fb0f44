"""The Part II §IV exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

from collections import Counter

import pytest

from book.exercises.part2_pipeline import ch04_tokenization as ex
from book.tokenizers.bpe import BPETokenizer, chunks, merge


def test_saturated_compression_accepts_bytes_per_chunk_and_rejects_words_or_characters(capsys):
    ex.check_saturated_bytes_per_token(ex.saturated_bytes_per_token_reference)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="chunks"):  # whitespace words miss "\n" and the ". " pieces
        ex.check_saturated_bytes_per_token(lambda t: len(t.encode()) / len(t.split()))
    with pytest.raises(AssertionError, match="UTF-8"):  # characters, not bytes
        ex.check_saturated_bytes_per_token(lambda t: len(t) / len(chunks(t)))
    with pytest.raises(ValueError):
        ex.saturated_bytes_per_token_reference("")


def test_chunk_pair_counts_accepts_the_reference_and_rejects_counting_across_chunks(capsys):
    def by_hand(text):
        counts = Counter()
        for piece in chunks(text):
            b = piece.encode("utf-8")
            counts.update(zip(b, b[1:]))
        return counts

    ex.check_chunk_pair_counts(by_hand)
    assert "✓" in capsys.readouterr().out

    def whole_text(text):
        b = text.encode("utf-8")
        return Counter(zip(b, b[1:]))

    with pytest.raises(AssertionError, match="straddle"):
        ex.check_chunk_pair_counts(whole_text)

    def characters(text):
        return Counter(p for piece in chunks(text) for p in zip(piece, piece[1:]))

    with pytest.raises(AssertionError, match="bytes"):
        ex.check_chunk_pair_counts(characters)


def _rank_encode(text, merges, errors="surrogatepass"):
    ids = []
    for piece in chunks(text):
        seq = tuple(piece.encode("utf-8", errors))
        while len(seq) > 1:
            present = [p for p in zip(seq, seq[1:]) if p in merges]
            if not present:
                break
            pair = min(present, key=merges.get)
            seq = merge(seq, pair, merges[pair])
        ids += seq
    return ids


def test_encode_accepts_rank_order_and_rejects_greedy_longest_match(capsys):
    ex.check_encode(_rank_encode)
    ex.check_encode(lambda s, m: BPETokenizer(m).encode(s))
    assert capsys.readouterr().out.count("✓") == 2

    def longest_match(text, merges):
        vocab = {v: k for k, v in BPETokenizer(merges).vocab.items()}
        ids = []
        for piece in chunks(text):
            b = piece.encode("utf-8", "surrogatepass")
            i = 0
            while i < len(b):
                j = max(j for j in range(i + 1, len(b) + 1) if b[i:j] in vocab)
                ids.append(vocab[b[i:j]])
                i = j
        return ids

    with pytest.raises(AssertionError, match="learned first"):
        ex.check_encode(longest_match)

    def reversed_order(text, merges):
        ids = []
        for piece in chunks(text):
            seq = tuple(piece.encode("utf-8", "surrogatepass"))
            for pair, new in reversed(list(merges.items())):
                seq = merge(seq, pair, new)
            ids += seq
        return ids

    with pytest.raises(AssertionError, match="learned first"):
        ex.check_encode(reversed_order)
    with pytest.raises(AssertionError, match="surrogatepass"):
        ex.check_encode(lambda s, m: _rank_encode(s, m, errors="strict"))


def test_safe_decode_accepts_join_then_replace_and_rejects_per_token_ignore_and_strict(capsys):
    ex.check_safe_decode(lambda vocab, ids: b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace"))
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="token by token"):
        ex.check_safe_decode(lambda vocab, ids: "".join(vocab[i].decode("utf-8", "replace") for i in ids))
    with pytest.raises(AssertionError, match="ignore"):
        ex.check_safe_decode(lambda vocab, ids: b"".join(vocab[i] for i in ids).decode("utf-8", "ignore"))
    with pytest.raises(AssertionError, match="raised"):
        ex.check_safe_decode(lambda vocab, ids: b"".join(vocab[i] for i in ids).decode("utf-8"))
