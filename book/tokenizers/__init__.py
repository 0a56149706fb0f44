"""Tokenizers: text ↔ integer ids.

Every tokenizer has ``encode(text) -> list[int]``, ``decode(ids) -> str`` and
``vocab_size``. :class:`WordTokenizer` (whitespace words plus a newline token)
suits the grammar-generated stories corpus; :class:`CharTokenizer` any text.
Taught in p1-5.1 (tokens); p2-iv adds byte-level BPE.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class CharTokenizer:
    """One id per distinct character of the training text (sorted)."""

    def __init__(self, text: str):
        self.itos = sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.itos)}

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        """The ids of ``text``'s characters; an unknown character is named with its position."""
        try:
            return [self.stoi[c] for c in text]
        except KeyError:
            position, ch = next((i, c) for i, c in enumerate(text) if c not in self.stoi)
            shown = ", ".join(repr(c) for c in self.itos[:12]) + (", …" if len(self.itos) > 12 else "")
            raise ValueError(f"text: character {ch!r} at position {position} is not in the tokenizer's "
                             f"vocabulary of {len(self.itos)} characters ({shown})") from None

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.itos[int(i)] for i in ids)


class WordTokenizer:
    """Whitespace-separated words, with "\\n" (end of story) as a token of its own.

    >>> tok = WordTokenizer(["the cat ran .", "a dog sat ."])
    >>> tok.decode(tok.encode("the dog ran .\\n"))
    'the dog ran .\\n'
    """

    NEWLINE = "\n"

    def __init__(self, vocabulary: Iterable[str] | Sequence[str]):
        words: set[str] = set()
        for item in vocabulary:
            words.update(item.split())
        self.itos = [self.NEWLINE] + sorted(words)
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        ids = []
        for line_no, line in enumerate(text.split("\n")):
            if line_no:
                ids.append(0)
            for w in line.split():
                if w not in self.stoi:
                    raise ValueError(f"word {w!r} is not in the tokenizer's vocabulary")
                ids.append(self.stoi[w])
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        out, line = [], []
        for i in ids:
            w = self.itos[int(i)]
            if w == self.NEWLINE:
                out.append(" ".join(line) + "\n")
                line = []
            else:
                line.append(w)
        return "".join(out) + " ".join(line)
