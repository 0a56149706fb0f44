"""Exercise checkers for p1-ch5 (representing text).

* :func:`check_chance_rate` — the expected nearest-neighbour role agreement
  when roles are shuffled at random (the chapter's permutation baseline in
  closed form);
* :func:`check_embedding_backward` — the gradient of an embedding lookup,
  ``one_hot(ids)ᵀ @ grad_out``, against autograd;
* :func:`check_bpe_encode` — applying learned BPE merges to a new word.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import torch

from book.checks import assert_close
from book.data.stories import WORD_ROLES
from book.exercises import passed

END_OF_WORD = "</w>"


# ------------------------------------------------------------------ chance rate

def chance_rate_reference(roles: Sequence[str]) -> float:
    """E[agreement] when roles are randomly permuted: Σ_r n_r(n_r − 1) / (N(N − 1)).

    Word i's neighbour is a different word j; after a uniform shuffle the
    pair (role_i, role_j) is a uniform draw of two distinct positions, so the
    expectation does not depend on which word is whose neighbour.

    >>> chance_rate_reference(["a", "a", "b"])
    0.3333333333333333
    """
    n = len(roles)
    if n < 2:
        raise ValueError(f"need at least two words, got {n}")
    return sum(k * (k - 1) for k in Counter(roles).values()) / (n * (n - 1))


def check_chance_rate(fn: Callable[[Sequence[str]], float]) -> None:
    """``fn(roles)`` must return the expected agreement under a random shuffle of ``roles``."""
    story_roles = [r for r in WORD_ROLES.values() if r != "function"]
    cases = {
        "the stories' class words": story_roles,
        "every word its own role": [str(i) for i in range(10)],
        "one role for all": ["Noun"] * 7,
        "two words, two roles": ["Noun", "Verb"],
        "two words, one role": ["Noun", "Noun"],
        "unbalanced": ["A"] * 90 + ["B"] * 9 + ["C"],
    }
    for name, roles in cases.items():
        got = float(fn(list(roles)))
        want = chance_rate_reference(roles)
        assert abs(got - want) <= 1e-12, (
            f"{name} ({len(roles)} words): you returned {got:.6g}, expected {want:.6g}. Hint: the "
            "neighbour is a *different* word, so draw two positions without replacement.")
    passed(f"chance rate = Σ n_r(n_r−1)/(N(N−1)) on {len(cases)} role lists")


# --------------------------------------------------------- embedding backward

def embedding_backward_reference(ids: torch.Tensor, grad_out: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """∂L/∂E for ``E[ids]``: row v of the result sums ``grad_out`` over every position holding v."""
    d = grad_out.shape[-1]
    return torch.zeros(vocab_size, d, dtype=grad_out.dtype).index_add_(0, ids.reshape(-1), grad_out.reshape(-1, d))


def check_embedding_backward(fn: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]) -> None:
    """``fn(ids, grad_out, V)`` must return the (V, d) gradient of ``E[ids]`` given the upstream gradient."""
    g = torch.Generator().manual_seed(5)
    cases = {
        "a batch of sequences (B, T)": (torch.randint(0, 11, (3, 9), generator=g), 11, 4),
        "one id repeated": (torch.full((6,), 2), 5, 3),
        "a single token": (torch.tensor([0]), 1, 7),
        "no tokens at all": (torch.zeros(0, dtype=torch.long), 4, 2),
        "ids that never occur (V ≫ n)": (torch.tensor([[1, 1], [998, 3]]), 1000, 5),
    }
    for name, (ids, vocab_size, d) in cases.items():
        E = torch.randn(vocab_size, d, dtype=torch.float64, generator=g, requires_grad=True)
        grad_out = torch.randn(*ids.shape, d, dtype=torch.float64, generator=g)
        torch.nn.functional.embedding(ids, E).backward(grad_out)
        got = fn(ids.clone(), grad_out.clone(), vocab_size)
        assert isinstance(got, torch.Tensor), f"{name}: return a torch.Tensor, got {type(got).__name__}"
        assert tuple(got.shape) == (vocab_size, d), (
            f"{name}: the gradient has the shape of E, ({vocab_size}, {d}); you returned {tuple(got.shape)}")
        assert_close(got, E.grad, rtol=1e-12, atol=1e-12,
                     name=f"{name} (hint: a row used twice receives the *sum* of both gradients)")
    passed(f"embedding backward = autograd on {len(cases)} cases, repeated and empty ids included")


# ----------------------------------------------------------------- BPE encode

def merge_pair(symbols: Sequence[str], pair: tuple[str, str]) -> list[str]:
    """Replace each occurrence of ``pair``, scanning left to right without overlaps, by one symbol."""
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


def bpe_encode_reference(word: str, merges: Sequence[tuple[str, str]]) -> list[str]:
    """Split ``word`` into characters plus ``"</w>"``, then apply ``merges`` in the order learned.

    >>> bpe_encode_reference("lowest", [("l", "o"), ("lo", "w"), ("e", "s"), ("es", "t")])
    ['low', 'est', '</w>']
    """
    symbols = list(word) + [END_OF_WORD]
    for pair in merges:
        symbols = merge_pair(symbols, tuple(pair))
    return symbols


def check_bpe_encode(fn: Callable[[str, list[tuple[str, str]]], list[str]]) -> None:
    """``fn(word, merges)`` must segment ``word`` exactly as :func:`bpe_encode_reference` does."""
    sennrich = [("e", "s"), ("es", "t"), ("est", "</w>"), ("l", "o"), ("lo", "w"), ("n", "e"),
                ("ne", "w"), ("new", "est</w>"), ("low", "</w>"), ("w", "i")]
    cases = [
        ("lowest", sennrich, "a new word made of known pieces"),
        ("newest", sennrich, "a training word"),
        ("widest", sennrich[:3], "only the first merges"),
        ("xyz", sennrich, "no merge applies"),
        ("", sennrich, "the empty word"),
        ("aaaaa", [("a", "a"), ("aa", "aa")], "overlapping pairs (scan left to right)"),
        ("naïve", [("ï", "v"), ("a", "ïv")], "non-ASCII characters"),
        ("slowly", [("l", "o"), ("o", "w"), ("lo", "w")], "an earlier merge blocks a later one"),
        ("est", [("es", "t"), ("e", "s")], "order matters: a merge whose pieces appear later"),
    ]
    for word, merges, what in cases:
        want = bpe_encode_reference(word, merges)
        got = list(fn(word, [tuple(m) for m in merges]))
        assert got == want, (
            f"{what}: encoding {word!r} gave {got}, expected {want}. Hint: start from the characters "
            f"plus {END_OF_WORD!r} and apply every merge once, in the order it was learned.")
    passed(f"BPE encode matches the reference on {len(cases)} words, empty and non-ASCII included")
