"""Exercise checkers for p1-ch7 (GPT, in-context learning and scaling laws, with the jackknife of p1-7.2)."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Sequence

from book.exercises import passed

# ----------------------------------------------------------------- compute-optimal allocation


def compute_optimal_reference(compute: float, tokens_per_param: float = 20.0) -> tuple[float, float]:
    """(N, D) with C = 6·N·D and D = r·N, so N = sqrt(C / 6r) and D = r·N."""
    n = math.sqrt(compute / (6.0 * tokens_per_param))
    return n, tokens_per_param * n


def check_compute_optimal(fn: Callable[..., tuple[float, float]]) -> None:
    """``fn(C, tokens_per_param=20)`` must return the compute-optimal (parameters, tokens)."""
    cases = [(5.76e23, 20.0), (1.2e11, 20.0), (6.0, 1.0), (1e21, 5.0), (3.14e17, 37.5)]
    for compute, ratio in cases:
        got = fn(compute, tokens_per_param=ratio)
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            raise AssertionError(f"return a pair (N, D), got {got!r}")
        n, d = (float(v) for v in got)
        n_ref, d_ref = compute_optimal_reference(compute, ratio)
        assert math.isclose(n, n_ref, rel_tol=1e-9) and math.isclose(d, d_ref, rel_tol=1e-9), (
            f"for C = {compute:.3g} FLOPs and {ratio:g} tokens/parameter you returned N = {n:.4g}, "
            f"D = {d:.4g}; expected N = {n_ref:.4g}, D = {d_ref:.4g}. "
            "Hint: substitute D = r·N into C = 6·N·D and solve for N.")
        assert math.isclose(6 * n * d, compute, rel_tol=1e-9), "your N and D do not spend exactly C = 6·N·D"
    passed("compute-optimal N and D on 5 budgets, Chinchilla's included")


# ----------------------------------------------------------------- the induction rule


def induction_predict_reference(tokens: Sequence[int]) -> list[int | None]:
    """At each position t, the token that followed the latest earlier occurrence of tokens[t] (else None).

    >>> induction_predict_reference([3, 7, 5, 3, 7])
    [None, None, None, 7, 5]
    """
    last_next: dict[int, int] = {}   # token -> the token that followed its latest occurrence
    out: list[int | None] = []
    for t, tok in enumerate(tokens):
        if t > 0:  # position t − 1 is now followed by a known token (j + 1 = t is allowed)
            last_next[int(tokens[t - 1])] = int(tok)
        out.append(last_next.get(int(tok)))
    return out


def _induction_cases() -> dict[str, list[int]]:
    rng = random.Random(7)
    half = rng.sample(range(100), 12)
    return {
        "empty sequence": [],
        "one token": [5],
        "a repeated sequence": half + half,
        "one token repeated": [4] * 9,
        "the latest occurrence wins": [1, 2, 1, 3, 1, 4, 1],
        "random with collisions": [rng.randrange(5) for _ in range(60)],
        "large ids": [10**6, 3, 10**6, 7, 10**6],
    }


def check_induction_predict(fn: Callable[[Sequence[int]], Sequence[int | None]]) -> None:
    """``fn(tokens)`` must return, per position, what an ideal induction head would predict next."""
    for name, tokens in _induction_cases().items():
        got = list(fn(list(tokens)))
        want = induction_predict_reference(tokens)
        assert len(got) == len(want), f"{name}: return one prediction per position ({len(want)}), got {len(got)}"
        for t, (g, w) in enumerate(zip(got, want)):
            assert (g is None and w is None) or (g is not None and w is not None and int(g) == w), (
                f"{name}: at position {t} (tokens {tokens[max(0, t - 4):t + 1]} …) you predicted {g!r}, "
                f"expected {w!r}. Hint: find the most recent earlier position j < t with the same token as "
                "position t and predict the token at j + 1; None if there is none.")
    passed("induction rule on 7 sequences, empty and collision-heavy ones included")


# ----------------------------------------------------------------- counting GPT parameters


def _param_configs():
    from book.nn.gpt import GPTConfig

    return [
        GPTConfig(vocab_size=74, block_size=32, n_layer=2, n_head=4, d_model=64),
        GPTConfig(vocab_size=74, block_size=32, n_layer=2, n_head=4, d_model=64, tie_embeddings=False),
        GPTConfig(vocab_size=1, block_size=1, n_layer=1, n_head=1, d_model=2),
        GPTConfig(vocab_size=101, block_size=17, n_layer=3, n_head=3, d_model=36, bias=False),
        GPTConfig(vocab_size=50, block_size=40, n_layer=5, n_head=2, d_model=10, positions="sinusoidal"),
        GPTConfig(vocab_size=7, block_size=9, n_layer=0, n_head=1, d_model=8, tie_embeddings=False),
    ]


def check_param_count(fn: Callable[..., int]) -> None:
    """``fn(cfg)`` must return ``GPT(cfg).num_params()`` from the configuration alone (LayerNorm, GELU MLP)."""
    from book.nn.gpt import GPT

    for cfg in _param_configs():
        want = GPT(cfg).num_params()
        got = fn(cfg)
        assert int(got) == want, (
            f"for d_model={cfg.d_model}, n_layer={cfg.n_layer}, vocab_size={cfg.vocab_size}, "
            f"block_size={cfg.block_size}, bias={cfg.bias}, tie_embeddings={cfg.tie_embeddings}, "
            f"positions={cfg.positions!r} you returned {got}, the model has {want} (off by {int(got) - want}). "
            "Hint: a block holds two LayerNorms (weight and bias each), the query, key/value and output "
            "projections and a 4×d MLP; a tied head adds nothing; sinusoidal positions are a fixed table.")
    passed("parameter count = GPT(cfg).num_params() on 6 configurations")


# ----------------------------------------------------------------- the jackknife


def jackknife_se_reference(stat: Callable[[list], float], items: Sequence) -> float:
    """Jackknife standard error of ``stat``: sqrt((n − 1)/n · Σ (θ₍ᵢ₎ − θ̄)²), θ₍ᵢ₎ = stat without item i.

    >>> round(jackknife_se_reference(lambda s: sum(s) / len(s), [1.0, 2.0, 4.0]), 6)   # = s / sqrt(n)
    0.881917
    """
    items = list(items)
    n = len(items)
    if n < 2:
        raise ValueError(f"the jackknife needs at least 2 items, got {n}")
    loo = [float(stat(items[:i] + items[i + 1:])) for i in range(n)]
    mean = sum(loo) / n
    return math.sqrt((n - 1) / n * sum((v - mean) ** 2 for v in loo))


def check_jackknife_se(fn: Callable[[Callable[[list], float], list], float]) -> None:
    """``fn(stat, items)`` must return the jackknife standard error of ``stat`` over the list ``items``."""
    rng = random.Random(3)
    mean = lambda s: sum(s) / len(s)  # noqa: E731
    for n in (2, 3, 7, 50):
        xs = [rng.gauss(1.0, 2.0) for _ in range(n)]
        want = statistics.stdev(xs) / math.sqrt(n)      # for the mean the jackknife is exactly s / sqrt(n)
        got = float(fn(mean, list(xs)))
        assert math.isclose(got, want, rel_tol=1e-9), (
            f"for the mean of {n} numbers you returned {got:.6g}; the jackknife gives s/sqrt(n) = {want:.6g}. "
            "Hint: leave each item out once, compute the statistic on the other n − 1, and scale the sum of "
            "squared deviations from their mean by (n − 1)/n before taking the square root.")
    xs = [rng.random() for _ in range(9)]
    for name, stat in (("the maximum", max), ("the population variance", statistics.pvariance),
                       ("a ratio of sums", lambda s: sum(v * v for v in s) / sum(s))):
        got, want = float(fn(stat, list(xs))), jackknife_se_reference(stat, xs)
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12), (
            f"for {name} of 9 numbers you returned {got:.6g}, expected {want:.6g}. Hint: the statistic is "
            "recomputed without each item in turn; it is not applied to the full sample.")
    sizes: list[int] = []
    fn(lambda s: sizes.append(len(s)) or 0.0, list(range(5)))
    assert sizes.count(4) == 5, f"the statistic should see 4 of the 5 items five times; it saw sizes {sizes}"
    for bad in ([], [1.0]):
        try:
            fn(mean, bad)
        except ValueError:
            continue
        raise AssertionError(f"with {len(bad)} item(s) there is nothing to leave out: raise ValueError")
    passed("jackknife standard error on 7 statistics, s/√n for the mean included")
