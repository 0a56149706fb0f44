"""Word2Vec: skip-gram with negative sampling (SGNS), as a practitioner writes it.

The model of the cookbook's fourth recipe. Taught in p4-4 (the objective is
derived from scratch in p1-5.1-word2vec). The pieces, in the order a training
run uses them:

* :class:`Vocabulary` — words sorted by count, with the counts; :meth:`Vocabulary.encode`
  names an unknown word and its position.
* :func:`keep_probabilities` — frequent-word subsampling. We use the formula of the
  reference C code (and gensim), ``p_keep = min(1, sqrt(t/f) + t/f)``, not the
  paper's ``1 - p_discard = sqrt(t/f)``: the two agree for rare words, but the
  code's extra ``t/f`` keeps a word of frequency exactly ``t`` always, and it is
  what every released embedding was trained with.
* :func:`skipgram_pairs` — (centre, context) pairs within a window, never across
  sequences; with a generator the window is *dynamic* as in the C code (each centre
  draws its own radius ``b`` uniformly from 1..window, so near words count more).
* :func:`noise_distribution` — the unigram distribution to the power 3/4.
* :class:`SkipGramNS` — input and output embeddings; ``forward`` returns the SGNS loss.
* :func:`most_similar` — nearest neighbours by cosine similarity.

    >>> vocab = Vocabulary.build([["the", "cat", "ran", "."], ["the", "dog", "ran", "."]])
    >>> vocab.itos[:3], vocab.counts.tolist()
    (('.', 'ran', 'the'), [2, 2, 2, 1, 1])
    >>> vocab.encode(["the", "cow"])
    Traceback (most recent call last):
    ...
    ValueError: tokens: word 'cow' at position 1 is not in the vocabulary of 5 words
    >>> [round(p, 4) for p in noise_distribution(torch.tensor([16, 1, 0])).tolist()]   # 16^0.75 = 8 against 1
    [0.8889, 0.1111, 0.0]
    >>> [round(p, 4) for p in keep_probabilities(torch.tensor([1, 99]), t=0.01).tolist()]
    [1.0, 0.1106]
    >>> centre, context = skipgram_pairs([[0, 1, 2], [3]], window=1)
    >>> list(zip(centre.tolist(), context.tolist()))
    [(0, 1), (1, 2), (1, 0), (2, 1)]
    >>> model = SkipGramNS(Word2VecConfig(vocab_size=5, dim=4))
    >>> round(model(torch.tensor([0]), torch.tensor([1]), torch.tensor([[2, 3]])).item(), 4)  # W_out = 0
    2.0794
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class Vocabulary:
    """Words sorted by decreasing count (ties alphabetically), with their counts. Taught in p4-4.

    Build it with :meth:`build`; ``itos[i]`` is word ``i``, ``counts[i]`` its count in the
    training text, ``stoi`` the inverse map.
    """

    itos: tuple[str, ...]
    counts: torch.Tensor

    def __post_init__(self):
        if len(self.itos) != len(set(self.itos)) or len(self.itos) != len(self.counts):
            raise ValueError(f"Vocabulary: need distinct words and one count each, got {len(self.itos)} words "
                             f"({len(set(self.itos))} distinct) and {len(self.counts)} counts")
        object.__setattr__(self, "stoi", {w: i for i, w in enumerate(self.itos)})

    @classmethod
    def build(cls, sequences: Iterable[Sequence[str]], min_count: int = 1) -> Vocabulary:
        """The vocabulary of the words that occur at least ``min_count`` times in ``sequences``."""
        if min_count < 1:
            raise ValueError(f"Vocabulary.build: min_count must be >= 1, got {min_count}")
        counter = Counter(w for seq in sequences for w in seq)
        kept = sorted((w for w, c in counter.items() if c >= min_count), key=lambda w: (-counter[w], w))
        if not kept:
            raise ValueError(f"Vocabulary.build: no word occurs {min_count} or more times")
        return cls(tuple(kept), torch.tensor([counter[w] for w in kept], dtype=torch.long))

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Sequence[str]) -> torch.Tensor:
        """``tokens`` as a 1-D int64 tensor of ids; an unknown word is named with its position."""
        try:
            return torch.tensor([self.stoi[w] for w in tokens], dtype=torch.long)
        except KeyError:
            pos, word = next((i, w) for i, w in enumerate(tokens) if w not in self.stoi)
            raise ValueError(f"tokens: word {word!r} at position {pos} is not in the vocabulary "
                             f"of {len(self)} words") from None


def _counts(counts: torch.Tensor, name: str) -> torch.Tensor:
    counts = torch.as_tensor(counts)
    if counts.dim() != 1 or len(counts) == 0 or (counts < 0).any() or counts.sum() <= 0:
        raise ValueError(f"{name}: counts must be a non-empty 1-D tensor of non-negative numbers with a positive "
                         f"sum, got shape {tuple(counts.shape)}")
    return counts.double()


def noise_distribution(counts: torch.Tensor, power: float = 0.75) -> torch.Tensor:
    """P_n(w) ∝ count(w)^power (float32, sums to 1); a word never seen gets probability 0. Taught in p4-4."""
    c = _counts(counts, "noise_distribution")
    p = torch.where(c > 0, c ** power, torch.zeros_like(c))
    return (p / p.sum()).float()


def keep_probabilities(counts: torch.Tensor, t: float = 1e-3) -> torch.Tensor:
    """Probability of keeping each occurrence of a word, ``min(1, sqrt(t/f) + t/f)`` with f its frequency.

    The reference C code's (and gensim's) form of Mikolov et al.'s subsampling; a word never
    seen gets 1. Taught in p4-4.
    """
    if not t > 0:
        raise ValueError(f"keep_probabilities: t must be > 0, got {t}")
    c = _counts(counts, "keep_probabilities")
    f = c / c.sum()
    ratio = torch.where(f > 0, t / f.clamp_min(1e-300), torch.full_like(f, float("inf")))
    return (ratio.sqrt() + ratio).clamp(max=1.0).float()


def skipgram_pairs(sequences: Iterable[Sequence[int] | torch.Tensor], window: int,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """All (centre, context) id pairs at distance 1..``window`` inside each sequence. Taught in p4-4.

    Without ``generator`` the window is fixed. With it, each centre position draws its own radius
    ``b`` uniformly from 1..window (the C code's dynamic window), which weights a context at
    distance j by (window − j + 1)/window on average. Pairs are ordered by offset, then position.
    Returns two int64 tensors of shape (P,).
    """
    if not isinstance(window, int) or window < 1:
        raise ValueError(f"skipgram_pairs: window must be an integer >= 1, got {window!r}")
    seqs = [torch.as_tensor(s, dtype=torch.long).reshape(-1) for s in sequences]
    if not seqs or sum(len(s) for s in seqs) == 0:
        empty = torch.zeros(0, dtype=torch.long)
        return empty, empty.clone()
    ids = torch.cat(seqs)                                                   # (N,)
    which = torch.repeat_interleave(torch.arange(len(seqs)), torch.tensor([len(s) for s in seqs]))
    radius = (torch.randint(1, window + 1, (len(ids),), generator=generator) if generator is not None
              else torch.full((len(ids),), window))
    centres, contexts = [], []
    for j in range(1, window + 1):
        same = which[:-j] == which[j:]                                      # never across a sequence boundary
        right = same & (radius[:-j] >= j)                                   # centre i, context i + j
        left = same & (radius[j:] >= j)                                     # centre i + j, context i
        centres += [ids[:-j][right], ids[j:][left]]
        contexts += [ids[j:][right], ids[:-j][left]]
    return torch.cat(centres), torch.cat(contexts)


@dataclass(frozen=True)
class Word2VecConfig:
    """Sizes of the model: ``vocab_size`` words, each with two ``dim``-dimensional vectors. Taught in p4-4."""

    vocab_size: int = 64
    dim: int = 32

    def __post_init__(self):
        if not (isinstance(self.vocab_size, int) and isinstance(self.dim, int)) or self.vocab_size < 2 or self.dim < 1:
            raise ValueError(f"Word2VecConfig: need integers vocab_size >= 2 and dim >= 1, "
                             f"got vocab_size={self.vocab_size!r}, dim={self.dim!r}")


class SkipGramNS(nn.Module):
    """Skip-gram with negative sampling: ``forward(centre, context, negatives)`` is the mean SGNS loss.

    ``in_embed`` holds the input vectors v_w (the embeddings one keeps), ``out_embed`` the output
    vectors u_w. For a pair (c, o) with noise words n_1..n_K the loss is
    −log σ(u_o·v_c) − Σ_k log σ(−u_{n_k}·v_c). Initialised as the C code does: v uniform in
    ±0.5/dim, u zero, so the untrained loss is (K+1)·log 2. Taught in p4-4.
    """

    def __init__(self, cfg: Word2VecConfig):
        super().__init__()
        self.cfg = cfg
        self.in_embed = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.out_embed = nn.Embedding(cfg.vocab_size, cfg.dim)
        with torch.no_grad():
            self.in_embed.weight.uniform_(-0.5 / cfg.dim, 0.5 / cfg.dim)
            self.out_embed.weight.zero_()

    def _check(self, centre: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor) -> None:
        tensors = {"centre": centre, "context": context, "negatives": negatives}
        for name, t in tensors.items():
            if not isinstance(t, torch.Tensor) or t.dtype != torch.long:
                got = t.dtype if isinstance(t, torch.Tensor) else type(t).__name__
                raise ValueError(f"SkipGramNS: {name} must be an int64 tensor, got {got}")
        if centre.dim() != 1 or context.shape != centre.shape or negatives.dim() != 2 \
                or negatives.shape[0] != centre.shape[0] or negatives.shape[1] < 1:
            raise ValueError(f"SkipGramNS expects centre (B,), context (B,) and negatives (B, K) with K >= 1, got "
                             f"{tuple(centre.shape)}, {tuple(context.shape)} and {tuple(negatives.shape)}")
        for name, t in tensors.items():
            if t.numel() and (t.min() < 0 or t.max() >= self.cfg.vocab_size):
                raise ValueError(f"SkipGramNS: {name} holds ids in [{int(t.min())}, {int(t.max())}], "
                                 f"outside the vocabulary [0, {self.cfg.vocab_size})")

    def scores(self, centre: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
        """Dot products u_w·v_c for ``centre`` (B,) and ``words`` (B, M): shape (B, M)."""
        v = self.in_embed(centre)                                          # (B, d)
        return torch.einsum("bd,bmd->bm", v, self.out_embed(words))        # (B, M)

    def forward(self, centre: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor,
                reduction: str = "mean") -> torch.Tensor:
        """The SGNS loss of each pair, averaged (``reduction="mean"``), summed ("sum") or per pair ("none")."""
        self._check(centre, context, negatives)
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"SkipGramNS: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        x = self.scores(centre, torch.cat([context[:, None], negatives], 1))   # (B, 1 + K)
        loss = -(F.logsigmoid(x[:, 0]) + F.logsigmoid(-x[:, 1:]).sum(1))       # (B,)
        return loss if reduction == "none" else loss.sum() if reduction == "sum" else loss.mean()


def most_similar(embeddings: torch.Tensor, word_index: int, k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` words of largest cosine similarity to word ``word_index`` (itself excluded). Taught in p4-4.

    ``embeddings`` is (V, d). Returns (indices, similarities), each of shape (k,), most similar first.
    """
    if not isinstance(embeddings, torch.Tensor) or embeddings.dim() != 2:
        raise ValueError(f"most_similar: embeddings must be a (V, d) tensor, got "
                         f"{tuple(embeddings.shape) if isinstance(embeddings, torch.Tensor) else type(embeddings)}")
    V = embeddings.shape[0]
    if not 0 <= int(word_index) < V:
        raise ValueError(f"most_similar: word_index {word_index} is outside the vocabulary [0, {V})")
    if not 1 <= k < V:
        raise ValueError(f"most_similar: k must be in [1, {V - 1}] for {V} words, got {k}")
    unit = F.normalize(embeddings.detach().double(), dim=1)
    sims = unit @ unit[int(word_index)]                                    # (V,)
    sims[int(word_index)] = -float("inf")
    top = sims.topk(k)
    return top.indices, top.values.to(embeddings.dtype)
