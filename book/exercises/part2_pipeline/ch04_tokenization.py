"""Exercise checkers for p2-iv (tokenization: byte-level BPE)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Mapping
from functools import lru_cache

from book.data import stories
from book.exercises import passed
from book.tokenizers.bpe import ERRORS, BPETokenizer, chunks, pair_counts

# Every chunk of these texts occurs at least twice, so BPE trained to saturation
# turns each chunk into a single token.
_REPEATED = ("naïve café 北京 🙂🙂 — naïve café 北京 🙂🙂 — zoë!? zoë!?\n\n" * 3,
             "ab ab ab  cd cd\tcd\tcd  " * 2)


def saturated_bytes_per_token_reference(text: str) -> float:
    """Bytes per token once every chunk is one token: UTF-8 bytes / number of chunks."""
    pieces = chunks(text)
    if not pieces:
        raise ValueError("an empty text has no tokens")
    return len(text.encode("utf-8", ERRORS)) / len(pieces)


def check_saturated_bytes_per_token(fn: Callable[[str], float]) -> None:
    """``fn(text)`` must predict the bytes per token of a BPE trained to saturation on ``text``."""
    # Each story text twice over, so that even its rarest word occurs at least twice.
    texts = [stories.text(40, seed=s) * 2 for s in (0, 1, 2)] + list(_REPEATED)
    for text in texts:
        tok = BPETokenizer.train(text, vocab_size=100_000)  # stops by itself once no pair repeats
        measured = len(text.encode("utf-8", ERRORS)) / len(tok.encode(text))
        got = float(fn(text))
        assert abs(got - measured) <= 1e-9 * measured, (
            f"on {text[:30]!r}… you predicted {got:.4f} bytes per token; training to saturation "
            f"measures {measured:.4f}. Hint: merges never cross the pre-tokenizer's chunks, so the best "
            "BPE can do is one token per chunk; count bytes with UTF-8, not characters.")
    passed(f"saturated compression predicted exactly on {len(texts)} texts")


def chunk_pair_counts_reference(text: str) -> Counter:
    """Adjacent byte pairs inside each pre-tokenizer chunk, counted over the whole text."""
    pieces = chunks(text)
    return pair_counts((tuple(p.encode("utf-8", ERRORS)) for p in pieces), [1] * len(pieces))


def check_chunk_pair_counts(fn: Callable[[str], Mapping[tuple[int, int], int]]) -> None:
    """``fn(text)`` must count adjacent UTF-8 byte pairs inside chunks (none across chunk boundaries)."""
    rng = random.Random(4)
    texts = ["", "a", "aaa", "the cat . the cat .\n", "naïve café 北京 🙂🙂!", "  \t\n x",
             stories.text(5, seed=3), "".join(rng.choice("ab .é\n🙂") for _ in range(300))]
    for text in texts:
        want = {p: c for p, c in chunk_pair_counts_reference(text).items() if c}
        got = {tuple(p): int(c) for p, c in dict(fn(text)).items() if c}
        if got == want:
            continue
        across = set(got) - set(want)
        hint = ""
        if across and all(isinstance(a, int) and a < 256 for p in across for a in p):
            hint = (" You counted pairs that straddle two chunks (e.g. the last byte of a word and the "
                    "space before the next one); count inside each chunk of chunks(text) only.")
        elif any(not isinstance(a, int) or a > 255 for p in got for a in p):
            hint = " Count pairs of UTF-8 *bytes* (ints 0–255), not of characters."
        missing = sorted(set(want) - set(got))[:3]
        wrong = sorted(p for p in set(want) & set(got) if want[p] != got[p])[:3]
        raise AssertionError(f"pair counts differ on {text[:30]!r}: extra pairs {sorted(across)[:3]}, "
                             f"missing {missing}, wrong counts for {wrong}.{hint}")
    passed(f"byte-pair counts inside chunks match on {len(texts)} texts, empty and emoji included")


@lru_cache(maxsize=1)
def _merge_table() -> BPETokenizer:
    text = stories.text(60, seed=5) + ("naïve café 北京 🙂🙂 — naïve 🙂 café\n" * 4) + "lowest lower newest widest " * 3
    return BPETokenizer.train(text, vocab_size=420)


def check_encode(fn: Callable[[str, dict], list[int]]) -> None:
    """``fn(text, merges)`` must give exactly the ids of ``BPETokenizer(merges).encode(text)``."""
    rng = random.Random(11)
    # A hand-made table where order matters: "bc" was learned before "ab", so "abc" is a + bc.
    handmade = BPETokenizer({(98, 99): 256, (97, 98): 257, (256, 256): 258})
    cases = [(handmade, s) for s in ("abc", "aabcc", "abcabc bcbc", "ab")]
    cases += [(_merge_table(), s) for s in (
        "", " ", "\n\n", "the happy bunny chased a red kite .\n", "lowest newer widest",
        "naïve café 北京 🙂🙂 👩\u200d💻 e\u0301", "\ud800 lone surrogate", "aaaaaaa bbbbbb",
        "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(200)))]
    for tok, s in cases:
        want = tok.encode(s)
        try:
            got = [int(i) for i in fn(s, dict(tok.merges))]
        except UnicodeEncodeError:
            raise AssertionError(f"encoding {s!r} raised UnicodeEncodeError: encode with "
                                 f"str.encode('utf-8', '{ERRORS}') as the package does, so that even "
                                 "lone surrogates become bytes") from None
        assert got == want, (
            f"on {s!r} you returned {got[:12]}, expected {want[:12]} (first 12 ids). Hint: split with "
            "chunks(), start from the UTF-8 bytes of each chunk and keep merging the present pair whose "
            "merge was learned first (smallest new id) until none is left.")
    passed(f"encode = BPETokenizer.encode on {len(cases)} strings, emoji and lone surrogates included")


def safe_decode_reference(vocab: Mapping[int, bytes], ids) -> str:
    """Concatenate the bytes first, then decode once, replacing each invalid sequence by U+FFFD."""
    return b"".join(vocab[int(i)] for i in ids).decode("utf-8", "replace")


def check_safe_decode(fn: Callable[[Mapping[int, bytes], list[int]], str]) -> None:
    """``fn(vocab, ids)`` must never raise, and must equal ``safe_decode_reference``."""
    tok = _merge_table()
    texts = ["naïve café 北京 🙂🙂 — naïve 🙂 café", "the bunny 👩\u200d💻 ran .", "北京🙂"]
    cases = []
    for t in texts:
        ids = tok.encode(t)
        cases += [ids] + [ids[:k] for k in range(len(ids))]  # every cut, many mid-character
    cases += [[0xF0, 0x9F], [0x80], [0xFF, 0x41], []]
    for ids in cases:
        want = safe_decode_reference(tok.vocab, ids)
        try:
            got = fn(dict(tok.vocab), list(ids))
        except UnicodeDecodeError as e:
            raise AssertionError(f"decoding ids {ids[-4:]} (the tail) raised {e!r}; a streaming decoder "
                                 "must not crash on a cut character: use errors='replace'") from None
        if got == want:
            continue
        if "\ufffd" in got and got.count("\ufffd") > want.count("\ufffd"):
            raise AssertionError(f"you returned {got!r}, expected {want!r}: decoding token by token breaks "
                                 "characters whose bytes are split across tokens. Join all the bytes, "
                                 "then decode once.")
        raise AssertionError(f"you returned {got!r}, expected {want!r}. Hint: invalid bytes become U+FFFD "
                             "(errors='replace'); 'ignore' silently drops them.")
    passed(f"safe decode never raises and matches on {len(cases)} id sequences, cut characters included")
