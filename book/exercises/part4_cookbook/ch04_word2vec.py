"""Exercise checkers for p4-4 (the Word2Vec recipe).

References: :func:`book.nn.word2vec.noise_distribution`,
:func:`book.nn.word2vec.keep_probabilities` and the loss of
:class:`book.nn.word2vec.SkipGramNS`, written independently here in float64.
Inputs include words that never occur, a one-word vocabulary, float counts, a
batch of one, a single noise word, and dot products large enough that
``log(sigmoid(x))`` underflows to ``-inf``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from book.exercises import passed


def _per_word_tensor(name: str, got, counts: torch.Tensor) -> torch.Tensor:
    """The reader's result as float64, after checking it is a tensor with one value per word."""
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(counts.shape):
        raise AssertionError(f"{name} must return a tensor of shape {tuple(counts.shape)}, got "
                             f"{type(got).__name__} {tuple(getattr(got, 'shape', ()))}")
    return got.double()


def _noise_ref(counts: torch.Tensor, power: float) -> torch.Tensor:
    c = counts.double()
    p = torch.where(c > 0, c ** power, torch.zeros_like(c))
    return p / p.sum()


def check_noise_distribution(fn: Callable[[torch.Tensor, float], torch.Tensor]) -> None:
    """``fn(counts, power)`` -> P_n(w) ∝ count(w)^power, a (V,) tensor summing to 1, 0 where a count is 0."""
    g = torch.Generator().manual_seed(0)
    cases = [(torch.tensor([10701, 7646, 5818, 247, 226]), 0.75),
             (torch.tensor([16, 1, 0, 81]), 0.75),                      # a word that never occurs
             (torch.tensor([5]), 0.75),                                  # a one-word vocabulary
             (torch.randint(0, 1000, (300,), generator=g), 0.5),
             (torch.tensor([2.5, 0.5, 1.0]), 1.0)]                       # float counts; power 1 is the unigram
    for counts, power in cases:
        want = _noise_ref(counts, power)
        got = _per_word_tensor("noise_distribution", fn(counts.clone(), power), counts)
        if torch.allclose(got, want, rtol=1e-5, atol=1e-7):
            continue
        if torch.isnan(got).any():
            hint = "a count of 0 must give probability 0 (check for 0 ** power or a division by zero)"
        elif torch.allclose(got, _noise_ref(counts, 1.0), rtol=1e-5, atol=1e-7):
            hint = "that is the unigram distribution: raise the counts to the power first"
        elif torch.allclose(got / got.sum(), want, rtol=1e-5, atol=1e-7):
            hint = "divide by the sum of count^power so the probabilities add up to 1"
        else:
            hint = "P_n(w) = count(w)^power / Σ_v count(v)^power"
        raise AssertionError(f"noise_distribution(counts={counts.tolist()[:5]}…, power={power}) differs from the "
                             f"reference by up to {(got - want).abs().max().item():.3g}: {hint}")
    passed(f"noise distributions match on {len(cases)} cases, unseen words and a one-word vocabulary included")


def _keep_ref(counts: torch.Tensor, t: float) -> torch.Tensor:
    c = counts.double()
    return _keep_of_frequency(c / c.sum(), t)


def _keep_of_frequency(f: torch.Tensor, t: float) -> torch.Tensor:
    ratio = torch.where(f > 0, t / f.clamp_min(1e-300), torch.full_like(f, float("inf")))
    return (ratio.sqrt() + ratio).clamp(max=1.0)


def check_keep_probability(fn: Callable[[torch.Tensor, float], torch.Tensor]) -> None:
    """``fn(counts, t)`` -> min(1, sqrt(t/f) + t/f) per word, f = count / total (the C code's subsampling)."""
    g = torch.Generator().manual_seed(1)
    cases = [(torch.tensor([10701, 7646, 5818, 247, 226]), 1e-2),
             (torch.tensor([1, 99]), 0.01),                              # f = t exactly for the first word
             (torch.tensor([1000, 1000]), 1e-3),                         # two equally frequent words
             (torch.randint(1, 10_000, (500,), generator=g), 1e-4),
             (torch.tensor([7]), 1e-3)]                                  # one word: f = 1
    for counts, t in cases:
        want = _keep_ref(counts, t)
        got = _per_word_tensor("keep_probability", fn(counts.clone(), t), counts)
        if torch.allclose(got, want, rtol=1e-5, atol=1e-7):
            continue
        f = counts.double() / counts.sum()
        if torch.allclose(got, (t / f).sqrt().clamp(max=1.0), rtol=1e-5, atol=1e-7):
            hint = "that is the paper's 1 − P_discard = sqrt(t/f); the reference code adds t/f: sqrt(t/f) + t/f"
        elif (got > 1 + 1e-9).any():
            hint = "a probability cannot exceed 1: clip with min(1, ·)"
        elif torch.allclose(got, _keep_of_frequency(counts.double(), t), rtol=1e-5, atol=1e-7):
            hint = "f is the word's share of all tokens, count / total, not its raw count"
        else:
            hint = "f = count / total, then min(1, sqrt(t/f) + t/f)"
        raise AssertionError(f"keep_probability(counts={counts.tolist()[:5]}…, t={t}) differs from the reference by "
                             f"up to {(got - want).abs().max().item():.3g}: {hint}")
    passed(f"keep probabilities match the reference code's formula on {len(cases)} cases, f = t and f = 1 included")


def _sgns_ref(v: torch.Tensor, u_pos: torch.Tensor, u_neg: torch.Tensor) -> torch.Tensor:
    x_pos = (v * u_pos).sum(-1)
    x_neg = (u_neg @ v.unsqueeze(-1)).squeeze(-1)
    return -(torch.nn.functional.logsigmoid(x_pos) + torch.nn.functional.logsigmoid(-x_neg).sum(-1)).mean()


def check_sgns_loss(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """``fn(v, u_pos, u_neg)`` with v, u_pos (B, d) and u_neg (B, K, d) -> the mean SGNS loss, a scalar."""
    g = torch.Generator().manual_seed(2)
    cases = {"B=64, K=5, d=16": (64, 5, 16, 1.0), "a batch of one, K=1": (1, 1, 3, 1.0),
             "d=1": (7, 4, 1, 1.0), "saturated dot products": (16, 3, 8, 12.0)}
    for name, (B, K, d, scale) in cases.items():
        v = scale * torch.randn(B, d, generator=g, dtype=torch.float64)
        u_pos = scale * torch.randn(B, d, generator=g, dtype=torch.float64)
        u_neg = scale * torch.randn(B, K, d, generator=g, dtype=torch.float64)
        want = _sgns_ref(v, u_pos, u_neg)
        got = fn(v.clone(), u_pos.clone(), u_neg.clone())
        if not isinstance(got, torch.Tensor) or got.dim() != 0:
            raise AssertionError(f"{name}: sgns_loss must return a scalar tensor (the mean over the batch), got "
                                 f"{type(got).__name__} {tuple(getattr(got, 'shape', ()))}")
        if torch.isclose(got.double(), want, rtol=1e-6, atol=1e-9):
            continue
        x_pos = (v * u_pos).sum(-1)
        x_neg = (u_neg @ v.unsqueeze(-1)).squeeze(-1)
        ls = torch.nn.functional.logsigmoid
        if not torch.isfinite(got):
            hint = "log(sigmoid(x)) underflows for large |x|: use F.logsigmoid"
        elif torch.isclose(got.double(), -(ls(x_pos) + ls(x_neg).sum(-1)).mean(), rtol=1e-6):
            hint = "noise words enter with a minus sign: log σ(−u_n·v)"
        elif torch.isclose(got.double(), -(ls(x_pos) + ls(-x_neg).mean(-1)).mean(), rtol=1e-6):
            hint = "sum over the K noise words (a mean over them divides their weight by K)"
        elif torch.isclose(got.double(), -(ls(x_pos) + ls(-x_neg).sum(-1)).sum(), rtol=1e-6):
            hint = "return the mean over the batch, not the sum"
        else:
            hint = "ℓ = −log σ(u_o·v_c) − Σ_k log σ(−u_{n_k}·v_c), averaged over the batch"
        raise AssertionError(f"{name}: sgns_loss gave {got.item():.6g}, expected {want.item():.6g}: {hint}")
    passed(f"the SGNS loss matches the reference on {len(cases)} cases, saturated sigmoids included")
