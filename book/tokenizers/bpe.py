"""Byte-level byte-pair encoding (BPE): train merges, encode, decode.

Text is split into chunks (a word with its leading space, a run of
punctuation, or a run of white space), each chunk becomes its UTF-8 bytes
(ids 0–255), and training repeatedly merges the most frequent adjacent pair
of ids inside chunks into a new id. Encoding replays the merges in the order
they were learned; decoding concatenates the bytes of each id. Because every
string is a sequence of bytes, any text round-trips exactly, whatever its
script, emoji or even lone surrogates (kept with UTF-8's ``surrogatepass``).
Taught in p2-iv (previewed in p1-5.1-bpe).

>>> tok = BPETokenizer.train("low lower lowest", vocab_size=260)
>>> tok.decode(tok.encode("lowest lower")) == "lowest lower"
True
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

# A word with its leading space, a run of other non-space symbols, or white space.
CHUNK = re.compile(r" ?\w+| ?[^\w\s]+|\s+", re.UNICODE)
ERRORS = "surrogatepass"


def chunks(text: str) -> list[str]:
    """The pieces that merges never cross; they concatenate back to ``text``."""
    return CHUNK.findall(text)


def pair_counts(seqs: Iterable[tuple[int, ...]], weights: Iterable[int]) -> Counter:
    """How often each adjacent pair occurs, each sequence counted ``weight`` times."""
    counts: Counter = Counter()
    for seq, w in zip(seqs, weights):
        for pair in zip(seq, seq[1:]):
            counts[pair] += w
    return counts


def merge(seq: tuple[int, ...], pair: tuple[int, int], new_id: int) -> tuple[int, ...]:
    """Replace every non-overlapping occurrence of ``pair`` (left to right) by ``new_id``."""
    out, i = [], 0
    while i < len(seq):
        if i + 1 < len(seq) and seq[i] == pair[0] and seq[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(seq[i])
            i += 1
    return tuple(out)


class BPETokenizer:
    """A trained byte-level BPE: ``merges[(a, b)] = new_id`` in learning order."""

    def __init__(self, merges: dict[tuple[int, int], int]):
        self.merges = dict(merges)
        self.vocab: dict[int, bytes] = {i: bytes([i]) for i in range(256)}
        for (a, b), new in self.merges.items():
            self.vocab[new] = self.vocab[a] + self.vocab[b]

    @property
    def vocab_size(self) -> int:
        return 256 + len(self.merges)

    @classmethod
    def train(cls, text: str, vocab_size: int, verbose: bool = False) -> BPETokenizer:
        """Learn ``vocab_size − 256`` merges from ``text`` (fewer if no pair repeats)."""
        if vocab_size < 256:
            raise ValueError(f"vocab_size must be at least 256 (the byte alphabet), got {vocab_size}")
        words = Counter(chunks(text))
        seqs = [tuple(w.encode("utf-8", ERRORS)) for w in words]
        weights = list(words.values())
        merges: dict[tuple[int, int], int] = {}
        for new_id in range(256, vocab_size):
            counts = pair_counts(seqs, weights)
            if not counts:
                break
            # Most frequent pair; ties broken by the smaller pair so training is deterministic.
            pair = max(counts, key=lambda p: (counts[p], -p[0], -p[1]))
            if counts[pair] < 2:
                break
            merges[pair] = new_id
            seqs = [merge(s, pair, new_id) for s in seqs]
            if verbose:
                print(f"merge {new_id - 255}: {pair} -> {new_id} ({counts[pair]} times)")
        return cls(merges)

    def _encode_chunk(self, piece: str) -> list[int]:
        seq = tuple(piece.encode("utf-8", ERRORS))
        while len(seq) > 1:
            # Apply the earliest-learned merge present, as training did.
            candidates = [p for p in zip(seq, seq[1:]) if p in self.merges]
            if not candidates:
                break
            pair = min(candidates, key=self.merges.__getitem__)
            seq = merge(seq, pair, self.merges[pair])
        return list(seq)

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for piece in chunks(text):
            ids.extend(self._encode_chunk(piece))
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        try:
            data = b"".join(self.vocab[int(i)] for i in ids)
        except KeyError as e:
            raise ValueError(f"token id {e.args[0]} is outside the vocabulary [0, {self.vocab_size})") from None
        return data.decode("utf-8", ERRORS)

    def token_strings(self, ids: Iterable[int]) -> list[str]:
        """Each id's bytes shown as text (invalid UTF-8 fragments replaced), for colouring boundaries."""
        return [self.vocab[int(i)].decode("utf-8", "replace") for i in ids]
