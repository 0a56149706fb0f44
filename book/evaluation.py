"""Evaluating language models: perplexity, sliding-window scoring, n-gram overlap and bootstrap error bars.

Taught in p3-vii. :func:`perplexity` is ``exp`` of a mean negative log-likelihood;
:func:`sliding_window_nll` scores every token of a long text with as much
context as a fixed window allows (:func:`window_plan` says which windows it
runs, so its length is the cost); :func:`ngram_overlap` measures how much of a
test document appears in a training corpus (the contamination check of GPT-3,
with n = 13); :func:`bootstrap_ci` and :func:`paired_bootstrap` give percentile
confidence intervals by resampling the independent units of a test set, and
:func:`normal_ci` the central-limit interval they are checked against.

>>> round(perplexity([0.0, 0.0]), 6)
1.0
>>> window_plan(10, window=4, stride=2)
[(0, 4, 1), (2, 6, 5), (4, 8, 7), (6, 9, 9)]
>>> ngram_overlap("a b c d", ngram_set(["a b c x"], 3), 3)
0.5
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional as F

Stat = Callable[[torch.Tensor], torch.Tensor]


def _as_float_tensor(values, name: str) -> torch.Tensor:
    t = values.detach() if isinstance(values, torch.Tensor) else torch.as_tensor(values, dtype=torch.float64)
    t = t.to("cpu", torch.float64)
    if t.numel() == 0:
        raise ValueError(f"{name} is empty: nothing to evaluate")
    return t


def perplexity(nll) -> float:
    """``exp(mean(nll))`` for per-token negative log-likelihoods in nats (a tensor, array or list).

    Raises ``ValueError`` for an empty input and for negative values, which are
    log-probabilities passed where their negatives were expected.
    """
    t = _as_float_tensor(nll, "nll")
    if (t < 0).any():
        raise ValueError(f"nll must hold negative log-likelihoods (>= 0), got a minimum of {t.min().item():.4g}: "
                         "pass -log p, not log p")
    return math.exp(t.mean().item())


def window_plan(n_tokens: int, window: int, stride: int) -> list[tuple[int, int, int]]:
    """The windows a sliding-window evaluation of ``n_tokens`` tokens runs: ``(begin, end, first)`` each.

    A window feeds tokens ``begin … end-1`` and predicts tokens ``begin+1 … end``;
    it is scored on the targets from position ``first`` on (the earlier ones had
    more context in the window before). Targets are positions ``1 … n_tokens-1``;
    a target at position t in a window starting at ``begin`` sees ``t - begin``
    tokens of context. ``stride == window`` gives non-overlapping chunks.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if not 1 <= stride <= window:
        raise ValueError(f"stride must be in 1 … window={window}, got {stride}"
                         + (": a stride longer than the window would leave tokens unscored" if stride > window else ""))
    if n_tokens < 2:
        raise ValueError(f"need at least 2 tokens (one to condition on, one to score), got {n_tokens}")
    plan, begin, scored = [], 0, 0          # scored: the last target position scored so far
    while scored < n_tokens - 1:
        end = min(begin + window, n_tokens - 1)
        plan.append((begin, end, scored + 1))
        scored = end
        begin += stride
    return plan


def _logits(model, x: torch.Tensor) -> torch.Tensor:
    out = model(x)
    return out[0] if isinstance(out, tuple) else out


@torch.no_grad()
def sliding_window_nll(model, ids, window: int | None = None, stride: int | None = None,
                       batch_size: int = 256) -> torch.Tensor:
    """Per-token negative log-likelihood (nats) of ``ids[1:]`` under ``model``: (len(ids) - 1,) float64 on the CPU.

    ``model(x)`` takes token ids (B, T) and returns logits (B, T, V) or a tuple
    whose first element they are (the book's GPT). Windows of ``window`` tokens
    (default: the model's ``cfg.block_size``) start every ``stride`` tokens
    (default: ``window``, non-overlapping chunks); each token is scored in the
    first window that predicts it with the most context (:func:`window_plan`).
    The model is put in eval mode for the call and restored afterwards.
    """
    ids = ids if isinstance(ids, torch.Tensor) else torch.as_tensor(ids)
    if ids.dim() != 1:
        raise ValueError(f"ids must be a 1-D tensor of token ids, got shape {tuple(ids.shape)}")
    block = getattr(getattr(model, "cfg", None), "block_size", None)
    window = window or block
    if window is None:
        raise ValueError("window is required for a model without cfg.block_size")
    if block is not None and window > block:
        raise ValueError(f"window={window} exceeds the model's block_size={block}")
    stride = stride or window
    plan = window_plan(len(ids), window, stride)
    device = next(model.parameters()).device if isinstance(model, torch.nn.Module) else ids.device
    ids = ids.to(device)
    was_training = getattr(model, "training", False)
    if isinstance(model, torch.nn.Module):
        model.eval()
    nll = torch.empty(len(ids) - 1, dtype=torch.float64)
    try:
        # windows of the same length go through the model together, batch_size at a time
        by_len: dict[int, list[tuple[int, int, int]]] = {}
        for w in plan:
            by_len.setdefault(w[1] - w[0], []).append(w)
        for length, group in by_len.items():
            for i in range(0, len(group), batch_size):
                chunk = group[i:i + batch_size]
                starts = torch.tensor([b for b, _, _ in chunk], device=device)
                pos = starts[:, None] + torch.arange(length + 1, device=device)     # (B, length + 1)
                x, y = ids[pos[:, :-1]], ids[pos[:, 1:]]
                logits = _logits(model, x)                                         # (B, length, V)
                if logits.dtype in (torch.float16, torch.bfloat16):
                    logits = logits.float()
                logp = F.log_softmax(logits, dim=-1)
                tok = -logp.gather(-1, y[..., None])[..., 0].cpu()                  # (B, length)
                for row, (b, e, first) in zip(tok, chunk):
                    nll[first - 1:e] = row[first - b - 1:]
    finally:
        if isinstance(model, torch.nn.Module):
            model.train(was_training)
    return nll


def _tokens(doc: str | Sequence) -> tuple:
    return tuple(doc.split()) if isinstance(doc, str) else tuple(int(t) if isinstance(t, torch.Tensor) else t
                                                                 for t in doc)


def ngram_set(docs: Iterable[str | Sequence], n: int) -> set[tuple]:
    """Every n-gram (a tuple of n tokens) of every document; a string is split into words, n-grams stay inside a doc."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    out: set[tuple] = set()
    for doc in docs:
        t = _tokens(doc)
        out.update(t[i:i + n] for i in range(len(t) - n + 1))
    return out


def ngram_overlap(doc: str | Sequence, reference_ngrams: set[tuple], n: int) -> float:
    """The fraction of ``doc``'s n-grams (counted by position) that occur in ``reference_ngrams``.

    1.0 for a document copied from the reference, 0.0 for one that shares no
    n-gram with it. ``reference_ngrams`` comes from :func:`ngram_set` with the same n.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    t = _tokens(doc)
    if len(t) < n:
        raise ValueError(f"doc has {len(t)} tokens, fewer than n={n}: it has no n-grams")
    if reference_ngrams:
        k = len(next(iter(reference_ngrams)))
        if k != n:
            raise ValueError(f"reference_ngrams hold {k}-grams but n={n}; build them with ngram_set(docs, {n})")
    grams = [t[i:i + n] for i in range(len(t) - n + 1)]
    return sum(g in reference_ngrams for g in grams) / len(grams)


@dataclass(frozen=True)
class BootstrapCI:
    """A point estimate, a percentile interval at ``level`` and the ``n_boot`` bootstrap statistics."""

    estimate: float
    low: float
    high: float
    level: float
    samples: torch.Tensor

    @property
    def width(self) -> float:
        return self.high - self.low

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


def _mean(v: torch.Tensor) -> torch.Tensor:
    return v.mean(1)


def _check(values, level: float, n_boot: int) -> torch.Tensor:
    t = _as_float_tensor(values, "values")
    if t.dim() == 0:
        raise ValueError("values must have at least one dimension (the independent units run along the first)")
    if len(t) < 2:
        raise ValueError(f"values has {len(t)} unit; an interval needs at least 2")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95, got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    return t


def _resample(n: int, n_boot: int, generator: torch.Generator | None, fn: Callable[[torch.Tensor], torch.Tensor],
              chunk: int = 256) -> torch.Tensor:
    out = []
    for i in range(0, n_boot, chunk):
        idx = torch.randint(0, n, (min(chunk, n_boot - i), n), generator=generator)   # (B, n) with replacement
        out.append(fn(idx))
    return torch.cat(out)


def _interval(estimate: float, samples: torch.Tensor, level: float) -> BootstrapCI:
    lo, hi = torch.quantile(samples, torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=samples.dtype))
    return BootstrapCI(float(estimate), float(lo), float(hi), level, samples)


def bootstrap_ci(values, stat: Stat | None = None, n_boot: int = 2000, level: float = 0.95,
                 generator: torch.Generator | None = None) -> BootstrapCI:
    """Percentile bootstrap interval of ``stat`` over the independent units along the first axis of ``values``.

    ``values`` is (n, …): one row per independent unit (a story, a question).
    Each of ``n_boot`` resamples draws n rows with replacement; ``stat`` maps a
    batch of resamples (B, n, …) to (B,) and defaults to the mean over axis 1.
    The interval holds the central ``level`` of the resampled statistics.
    """
    t = _check(values, level, n_boot)
    stat = stat or _mean
    samples = _resample(len(t), n_boot, generator, lambda idx: stat(t[idx]))
    return _interval(stat(t[None]).item(), samples, level)


def paired_bootstrap(a, b, stat: Stat | None = None, n_boot: int = 2000, level: float = 0.95,
                     generator: torch.Generator | None = None) -> BootstrapCI:
    """Percentile interval of ``stat(a) - stat(b)`` when ``a`` and ``b`` are scores of two models on the same units.

    Row i of ``a`` and of ``b`` belong to the same unit, so each resample draws
    the same rows from both: what the units share (an easy story, a hard one)
    cancels in the difference. ``stat`` is as in :func:`bootstrap_ci`.
    """
    ta, tb = _check(a, level, n_boot), _check(b, level, n_boot)
    if ta.shape != tb.shape:
        raise ValueError(f"a and b must score the same units: shapes {tuple(ta.shape)} and {tuple(tb.shape)} differ")
    stat = stat or _mean
    samples = _resample(len(ta), n_boot, generator, lambda idx: stat(ta[idx]) - stat(tb[idx]))
    return _interval((stat(ta[None]) - stat(tb[None])).item(), samples, level)


def normal_ci(values, level: float = 0.95) -> tuple[float, float]:
    """The central-limit interval ``mean ± z·s/√n`` of the mean of 1-D ``values`` (s with n - 1 in the denominator)."""
    t = _check(values, level, 1)
    if t.dim() != 1:
        raise ValueError(f"values must be 1-D, got shape {tuple(t.shape)}")
    z = math.sqrt(2) * torch.erfinv(torch.tensor(level, dtype=torch.float64)).item()   # Φ⁻¹((1 + level) / 2)
    half = z * t.std().item() / math.sqrt(len(t))
    m = t.mean().item()
    return m - half, m + half
