"""Exercise checkers for p3-vii (evaluation: perplexity, bootstrap intervals, n-gram overlap).

The references are :mod:`book.evaluation`. Inputs are awkward on purpose: a
padded batch whose padding must not count, sequences of different lengths, a
sample of two values, a skewed sample, repeated n-grams, Unicode words, and
n-grams that must not run from one document into the next.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from book import evaluation as ev
from book.exercises import passed


def perplexity_reference(logprobs: torch.Tensor, mask: torch.Tensor) -> float:
    """``exp(-Σ mask·logprobs / Σ mask)``: the perplexity of every unmasked token, padding left out."""
    lp, m = logprobs.double(), mask.double()
    return math.exp(-(lp * m).sum().item() / m.sum().item())


def _perplexity_cases():
    g = torch.Generator().manual_seed(0)
    cases = []
    for b, t, v in [(1, 7, 5), (4, 33, 74), (3, 1, 2)]:
        logits = 3 * torch.randn(b, t, v, generator=g, dtype=torch.float64)
        y = torch.randint(0, v, (b, t), generator=g)
        lp = torch.log_softmax(logits, -1).gather(-1, y[..., None])[..., 0]         # (B, T)
        lengths = torch.randint(1, t + 1, (b,), generator=g)
        lengths[0] = t                                                              # one full row
        mask = (torch.arange(t)[None] < lengths[:, None]).to(torch.float64)        # padding after each length
        cases.append((lp, mask))
    lp = torch.full((2, 4), math.log(1 / 74), dtype=torch.float64)                 # a uniform model over 74 tokens
    cases.append((lp, torch.ones(2, 4, dtype=torch.float64)))
    return cases


def check_perplexity(fn: Callable[[torch.Tensor, torch.Tensor], float]) -> None:
    """``fn(logprobs, mask)`` -> perplexity: logprobs (B, T) of the observed tokens, mask (B, T) 1 = real token."""
    for lp, mask in _perplexity_cases():
        want = perplexity_reference(lp, mask)
        got = fn(lp.clone(), mask.clone())
        got = float(got.item() if isinstance(got, torch.Tensor) else got)
        if math.isclose(got, want, rel_tol=1e-9):
            continue
        shape = f"logprobs of shape {tuple(lp.shape)}, {int(mask.sum())} real tokens"
        if got < 1:
            hint = "a perplexity is at least 1: exponentiate the mean *negative* log-probability"
        elif math.isclose(got, math.exp(-lp.mean().item()), rel_tol=1e-9):
            hint = "the padding was averaged in: weight each log-probability by the mask and divide by mask.sum()"
        elif math.isclose(got, sum(math.exp(-(lp[i] * mask[i]).sum().item() / mask[i].sum().item())
                                   for i in range(len(lp))) / len(lp), rel_tol=1e-9):
            hint = "that is the mean of per-sequence perplexities; average the log-probabilities over all tokens first"
        else:
            hint = "PPL = exp(-Σ mask·log p / Σ mask)"
        raise AssertionError(f"perplexity = {got:.6g} for {shape}, expected {want:.6g}: {hint}")
    passed("perplexity correct on padded batches of ragged sequences and on a uniform model (PPL = V)")


def check_bootstrap_interval(fn: Callable[..., tuple[float, float]]) -> None:
    """``fn(values, n_boot, level, generator)`` -> ``(low, high)``, a percentile bootstrap interval of the mean.

    Compared with :func:`book.evaluation.bootstrap_ci` within a Monte Carlo
    tolerance (a tenth of the interval's width), on a normal sample, a skewed
    one, a small one and at levels 0.5, 0.9 and 0.99.
    """
    g = torch.Generator().manual_seed(3)
    samples = {"normal, n = 500": torch.randn(500, generator=g, dtype=torch.float64),
               "exponential, n = 80": -torch.log(torch.rand(80, generator=g, dtype=torch.float64)),
               "n = 12": torch.rand(12, generator=g, dtype=torch.float64)}
    n_boot = 4000
    for name, x in samples.items():
        for level in (0.9, 0.5, 0.99):
            want = ev.bootstrap_ci(x, n_boot=n_boot, level=level, generator=torch.Generator().manual_seed(1))
            out = fn(x.clone(), n_boot=n_boot, level=level, generator=torch.Generator().manual_seed(2))
            assert isinstance(out, (tuple, list)) and len(out) == 2, "return a pair (low, high)"
            low, high = (float(v) for v in out)
            tol = 0.1 * want.width
            if abs(low - want.low) <= tol and abs(high - want.high) <= tol:
                continue
            if high - low < 0.05 * want.width:
                hint = ("the interval has (almost) no width: draw the n values *with* replacement "
                        "(torch.randint(0, n, (n_boot, n))), not a permutation")
            elif high - low < 0.8 * want.width:
                hint = f"too narrow: the central {level:.0%} lies between the quantiles (1 − level)/2 and (1 + level)/2"
            elif high - low > 1.25 * want.width:
                hint = "too wide: for level 0.9 take the 5 % and 95 % quantiles of the resampled means"
            else:
                hint = "resample n values with replacement n_boot times, take each resample's mean, then the quantiles"
            raise AssertionError(f"{name}, level {level}: got ({low:.4g}, {high:.4g}), expected about "
                                 f"({want.low:.4g}, {want.high:.4g}) (± {tol:.2g}): {hint}")
    passed("bootstrap interval matches book.evaluation.bootstrap_ci on 3 samples at 3 levels (normal, skewed, n = 12)")


def _overlap_cases():
    a = "once upon a time there was a cat named tom . tom ran . the end ."
    b = "once upon a time there was a dog named mia . mia slept . the end ."
    return [
        (a, [a], 13, 1.0),
        (a, [b], 4, None),
        (a, ["x y z w"], 2, 0.0),
        ("a b a b a b", ["a b"], 2, 3 / 5),                   # repeated n-grams count by position
        ("le café est très bon", ["un café est très bon"], 3, 2 / 3),
        ("c d", ["a b c", "d e f"], 2, 0.0),                 # "c d" must not be built across two documents
        ("p q r s", ["p q r", "q r s", "zz"], 3, 1.0),
    ]


def check_ngram_overlap(fn: Callable[[str, list[str], int], float]) -> None:
    """``fn(doc, reference_docs, n)`` -> the fraction of ``doc``'s n-grams (by position) found in any reference doc."""
    cases = _overlap_cases()
    for doc, refs, n, want in cases:
        want = ev.ngram_overlap(doc, ev.ngram_set(refs, n), n) if want is None else want
        got = float(fn(doc, list(refs), n))
        if math.isclose(got, want, abs_tol=1e-12):
            continue
        if len(refs) > 1 and want == 0.0:
            hint = "n-grams stay inside one document: do not join the reference documents into one word list"
        elif doc.split().count(doc.split()[0]) > 1:
            hint = "count the doc's n-grams by position (len(words) - n + 1 of them), not as a set"
        else:
            hint = "split into words, take every window of n consecutive words, count those in the reference set"
        raise AssertionError(f"overlap of {doc!r} with {refs!r} at n = {n} is {got:.4g}, expected {want:.4g}: {hint}")
    passed(f"n-gram overlap correct on {len(cases)} cases (a copy, no overlap, repeats, Unicode, document boundaries)")
