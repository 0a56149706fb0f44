"""Tiny stories from a probabilistic grammar, and a checker for that grammar.

A language model trained on this corpus can be *graded*: every sentence it
writes either parses under the grammar or does not, so "the model writes
grammatical text" becomes a measured rate (p1-7.1) rather than an
impression. Words are lower-case and separated by single spaces; the full stop
is a word of its own; one story per line.

The grammar (``GRAMMAR``) is the single source for both the sampler and the
recogniser. A right-hand side is a sequence of symbols; a symbol is a
nonterminal (a key of ``GRAMMAR``), a word class (a key of ``WORDS``) or a
literal word.

>>> story = sample_story(__import__("random").Random(0))
>>> is_grammatical_story(story)
True
>>> is_grammatical_sentence("the cat saw a big ball .")
True
>>> is_grammatical_sentence("cat the saw ball .")
False
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from functools import cache

# Word classes. Every word starts with a consonant so that "a" never needs "an",
# and no word belongs to two classes: a sentence has one parse at most.
WORDS: dict[str, tuple[str, ...]] = {
    "Name": ("tom", "lily", "sam", "mia", "ben", "zoe"),
    "Creature": ("cat", "dog", "bird", "fox", "frog", "bear", "bunny", "duck", "girl", "boy"),
    "Thing": ("ball", "box", "cake", "hat", "kite", "boat", "tree", "house", "river", "park"),
    "Adj": ("big", "small", "little", "happy", "sad", "red", "blue", "green", "kind", "funny"),
    "TVerb": ("saw", "found", "liked", "chased", "helped", "wanted", "took", "made", "hugged"),
    "IVerb": ("ran", "slept", "laughed", "jumped", "smiled", "cried", "danced", "sang"),
    "Prep": ("near", "under", "behind", "with"),
    "Pronoun": ("he", "she", "they"),
    "Det": ("the", "a"),
}

# Nonterminal -> list of (weight, right-hand side). Weights are relative.
GRAMMAR: dict[str, list[tuple[float, tuple[str, ...]]]] = {
    "Story": [(1.0, ("Opening", "Body", "Closing"))],
    "Opening": [(0.6, ("once", "upon", "a", "time", "there", "was", "a", "Creature", "named", "Name", ".")),
                (0.4, ("once", "upon", "a", "time", "there", "was", "a", "Adj", "Creature", "named", "Name", "."))],
    "Body": [(0.3, ("Sentence",)), (0.7, ("Sentence", "Body"))],
    "Sentence": [(0.6, ("Subject", "VP", ".")),
                 (0.25, ("then", "Subject", "VP", ".")),
                 (0.15, ("Subject", "VP", "and", "VP", "."))],
    "Subject": [(0.35, ("Name",)), (0.3, ("Pronoun",)), (0.2, ("Det", "Creature")),
                (0.15, ("Det", "Adj", "Creature"))],
    "VP": [(0.2, ("IVerb",)), (0.15, ("IVerb", "PP")), (0.3, ("TVerb", "Object")),
           (0.15, ("TVerb", "Object", "PP")), (0.12, ("was", "Adj")), (0.08, ("was", "very", "Adj"))],
    "Object": [(0.45, ("Det", "Noun")), (0.35, ("Det", "Adj", "Noun")), (0.2, ("Name",))],
    "Noun": [(0.5, ("Creature",)), (0.5, ("Thing",))],
    "PP": [(0.6, ("Prep", "Det", "Noun")), (0.4, ("Prep", "Det", "Adj", "Noun"))],
    "Closing": [(1.0, ("the", "end", "."))],
}

#: Domains: the same grammar and vocabulary with other word choices and rule weights,
#: so a model trained on the general corpus meets a *shifted distribution* it can
#: still tokenize and parse (fine-tuning, LoRA). ``words`` restricts word classes;
#: ``weights`` replaces a nonterminal's rule weights (one weight per rule, in order).
DOMAINS: dict[str, dict[str, dict]] = {
    "general": {"words": {}, "weights": {}},
    # Stories set outdoors: wild animals, places in nature, and a lot of moving about.
    "outdoors": {
        "words": {"Creature": ("bird", "fox", "frog", "bear", "duck"),
                  "Thing": ("tree", "river", "park", "boat", "kite"),
                  "IVerb": ("ran", "jumped", "danced", "sang"),
                  "Adj": ("big", "small", "green", "blue", "happy")},
        "weights": {"VP": (0.15, 0.45, 0.1, 0.2, 0.06, 0.04),
                    "Subject": (0.2, 0.2, 0.35, 0.25)},
    },
}

#: The symbols a complete sentence of a story may derive from.
SENTENCE_TYPES = ("Opening", "Sentence", "Closing")

_WORD_CLASS = {w: c for c, ws in WORDS.items() for w in ws}
_LITERALS = sorted({s for rules in GRAMMAR.values() for _, rhs in rules for s in rhs
                    if s not in GRAMMAR and s not in WORDS})

#: Every word the grammar can produce, sorted.
VOCAB: tuple[str, ...] = tuple(sorted(set(_WORD_CLASS) | set(_LITERALS)))

#: The grammatical role of each class word (function words map to "function").
WORD_ROLES: dict[str, str] = {w: ("function" if w not in _WORD_CLASS else _WORD_CLASS[w]) for w in VOCAB}


def _domain(name: str) -> dict[str, dict]:
    if name not in DOMAINS:
        raise ValueError(f"unknown domain {name!r}; known: {sorted(DOMAINS)}")
    return DOMAINS[name]


def _sample(symbol: str, rng: random.Random, out: list[str], domain: dict[str, dict]) -> None:
    if symbol in WORDS:
        out.append(rng.choice(domain["words"].get(symbol, WORDS[symbol])))
    elif symbol in GRAMMAR:
        rules = GRAMMAR[symbol]
        weights = domain["weights"].get(symbol, [w for w, _ in rules])
        _, rhs = rng.choices(rules, weights=weights)[0]
        for s in rhs:
            _sample(s, rng, out, domain)
    else:
        out.append(symbol)


def sample_story(rng: random.Random, domain: str = "general") -> str:
    """One story (a line of space-separated words) drawn from the grammar, in one of :data:`DOMAINS`."""
    out: list[str] = []
    _sample("Story", rng, out, _domain(domain))
    return " ".join(out)


def corpus(n_stories: int = 1000, seed: int = 0, domain: str = "general") -> list[str]:
    """``n_stories`` stories, reproducibly: the same seed (and domain) gives the same list."""
    if n_stories < 0:
        raise ValueError(f"n_stories must be >= 0, got {n_stories}")
    _domain(domain)                                  # an unknown name fails before any work
    rng = random.Random(seed)
    return [sample_story(rng, domain) for _ in range(n_stories)]


def text(n_stories: int = 1000, seed: int = 0, domain: str = "general") -> str:
    """The corpus as one string, one story per line (a trailing newline)."""
    return "".join(s + "\n" for s in corpus(n_stories, seed, domain))


def _ends(tokens: tuple[str, ...]):
    """Recogniser: ``ends(symbol, i)`` = the set of j such that symbol derives tokens[i:j]."""

    @cache
    def ends(symbol: str, i: int) -> frozenset[int]:
        if symbol in WORDS:
            return frozenset({i + 1}) if i < len(tokens) and _WORD_CLASS.get(tokens[i]) == symbol else frozenset()
        if symbol not in GRAMMAR:
            return frozenset({i + 1}) if i < len(tokens) and tokens[i] == symbol else frozenset()
        result: set[int] = set()
        for _, rhs in GRAMMAR[symbol]:
            frontier = {i}
            for s in rhs:
                frontier = {j for k in frontier for j in ends(s, k)}
                if not frontier:
                    break
            result |= frontier
        return frozenset(result)

    return ends


def _tokens(words: str | Sequence[str]) -> tuple[str, ...]:
    return tuple(words.split()) if isinstance(words, str) else tuple(words)


def derives(symbol: str, words: str | Sequence[str]) -> bool:
    """True if ``symbol`` (e.g. ``"Sentence"``) derives exactly these words."""
    if symbol not in GRAMMAR and symbol not in WORDS:
        raise KeyError(f"unknown grammar symbol {symbol!r}; known: {sorted(GRAMMAR) + sorted(WORDS)}")
    tokens = _tokens(words)
    return len(tokens) in _ends(tokens)(symbol, 0)


def is_grammatical_sentence(words: str | Sequence[str]) -> bool:
    """True if the words (ending in ".") form one sentence a story may contain."""
    tokens = _tokens(words)
    ends = _ends(tokens)
    return any(len(tokens) in ends(s, 0) for s in SENTENCE_TYPES)


def is_grammatical_story(words: str | Sequence[str]) -> bool:
    """True if the words form one whole story (opening, sentences, "the end .")."""
    return derives("Story", words)


def split_sentences(words: str | Sequence[str]) -> tuple[list[list[str]], list[str]]:
    """Cut text at each "." into complete sentences; return them and the unfinished tail."""
    sentences, current = [], []
    for w in _tokens(words):
        current.append(w)
        if w == ".":
            sentences.append(current)
            current = []
    return sentences, current


def grammatical_rate(texts: str | Iterable[str]) -> float:
    """Fraction of complete sentences in ``texts`` that the grammar accepts.

    An unfinished sentence at the end of a text is ignored (a sample cut at a
    length limit is not penalised for being cut); text without any complete
    sentence counts as zero of zero, and the rate of nothing is 0.0.
    """
    if isinstance(texts, str):
        texts = [texts]
    good = total = 0
    for t in texts:
        sentences, _ = split_sentences(t)
        total += len(sentences)
        good += sum(is_grammatical_sentence(s) for s in sentences)
    return good / total if total else 0.0
