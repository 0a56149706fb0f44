"""The chapter-7a exercise checkers accept correct answers and reject wrong ones."""

from __future__ import annotations

import math

import pytest

from book.exercises.part1_foundations import ch07a_gpt_scaling as ex7


def _compute_optimal(C, tokens_per_param=20):
    n = (C / (6 * tokens_per_param)) ** 0.5
    return n, tokens_per_param * n


def _induction(tokens):
    preds = []
    for t, tok in enumerate(tokens):
        earlier = [j for j in range(t) if tokens[j] == tok]
        preds.append(tokens[earlier[-1] + 1] if earlier else None)
    return preds


def _param_count(cfg):
    d, b = cfg.d_model, int(cfg.bias)
    attn = 4 * d * d + 4 * d * b                  # q (d×d), kv (d×2d), out (d×d), with biases
    mlp = 8 * d * d + 5 * d * b                   # up (d×4d), down (4d×d), with biases
    block = attn + mlp + 2 * 2 * d                # two LayerNorms, weight and bias each
    emb = cfg.vocab_size * d + (cfg.block_size * d if cfg.positions == "learned" else 0)
    head = 0 if cfg.tie_embeddings else cfg.vocab_size * d
    return emb + cfg.n_layer * block + 2 * d + head


def _jackknife(stat, items):
    import numpy as np

    if len(items) < 2:
        raise ValueError("need two items")
    loo = np.array([stat([x for j, x in enumerate(items) if j != i]) for i in range(len(items))])
    return float(np.sqrt((len(items) - 1) * loo.var()))     # (n-1)/n · Σ(θ_i − θ̄)² = (n − 1)·var


def test_checkers_accept_correct_answers(capsys):
    ex7.check_compute_optimal(_compute_optimal)
    ex7.check_compute_optimal(ex7.compute_optimal_reference)
    ex7.check_induction_predict(_induction)
    ex7.check_induction_predict(ex7.induction_predict_reference)
    ex7.check_param_count(_param_count)
    ex7.check_jackknife_se(_jackknife)
    ex7.check_jackknife_se(ex7.jackknife_se_reference)
    assert capsys.readouterr().out.count("✓") == 7


def test_reference_examples():
    assert ex7.induction_predict_reference([3, 7, 5, 3, 7]) == [None, None, None, 7, 5]
    assert math.isclose(ex7.jackknife_se_reference(lambda s: sum(s) / len(s), [1.0, 2.0, 4.0]),
                        (7 / 3) ** 0.5 / 3 ** 0.5)                  # s / sqrt(n) with s² = 7/3
    with pytest.raises(ValueError, match="at least 2"):
        ex7.jackknife_se_reference(max, [1.0])
    n, d = ex7.compute_optimal_reference(5.76e23)
    assert 6.0e10 < n < 7.5e10 and math.isclose(d / n, 20.0)   # Chinchilla: ~70B parameters, ~1.4T tokens


def test_compute_optimal_rejects_wrong_answers():
    with pytest.raises(AssertionError, match="Hint"):              # forgot the 6 of C = 6ND
        ex7.check_compute_optimal(lambda C, tokens_per_param=20: ((C / tokens_per_param) ** 0.5,
                                                                  (C * tokens_per_param) ** 0.5))
    with pytest.raises(AssertionError, match="Hint"):              # ignores the ratio argument
        ex7.check_compute_optimal(lambda C, tokens_per_param=20: _compute_optimal(C, 20))
    with pytest.raises(AssertionError, match="pair"):
        ex7.check_compute_optimal(lambda C, tokens_per_param=20: (C / 120) ** 0.5)


def test_induction_checker_rejects_wrong_answers():
    def first_occurrence(tokens):                                 # copies from the earliest match
        preds = []
        for t, tok in enumerate(tokens):
            earlier = [j for j in range(t) if tokens[j] == tok]
            preds.append(tokens[earlier[0] + 1] if earlier else None)
        return preds

    with pytest.raises(AssertionError, match="latest occurrence wins"):
        ex7.check_induction_predict(first_occurrence)
    with pytest.raises(AssertionError):                          # predicts the current token (no shift)
        ex7.check_induction_predict(lambda tokens: [tok if tok in tokens[:t] else None
                                                    for t, tok in enumerate(tokens)])
    with pytest.raises(AssertionError, match="one prediction per position"):
        ex7.check_induction_predict(lambda tokens: _induction(tokens)[1:])


def test_param_count_checker_rejects_wrong_answers():
    with pytest.raises(AssertionError, match="Hint"):              # the 12·L·d² approximation
        ex7.check_param_count(lambda cfg: 12 * cfg.n_layer * cfg.d_model ** 2)
    with pytest.raises(AssertionError, match="tie_embeddings"):    # counts the tied head twice
        ex7.check_param_count(lambda cfg: _param_count(cfg) + (cfg.vocab_size * cfg.d_model
                                                               if cfg.tie_embeddings else 0))
    with pytest.raises(AssertionError, match="sinusoidal"):        # counts a fixed table as parameters
        ex7.check_param_count(lambda cfg: _param_count(cfg) + (cfg.block_size * cfg.d_model
                                                               if cfg.positions == "sinusoidal" else 0))


def test_jackknife_checker_rejects_wrong_answers():
    import numpy as np

    def no_factor(stat, items):                                   # the spread of the leave-one-out values
        loo = [stat([x for j, x in enumerate(items) if j != i]) for i in range(len(items))]
        if len(items) < 2:
            raise ValueError
        return float(np.std(loo))

    def full_sample(stat, items):                                 # a bootstrap-free "standard error"
        if len(items) < 2:
            raise ValueError
        return float(np.std(items, ddof=1) / np.sqrt(len(items)))

    def silent(stat, items):                                      # no error for a single item
        return _jackknife(stat, items) if len(items) >= 2 else 0.0

    with pytest.raises(AssertionError, match="Hint"):
        ex7.check_jackknife_se(no_factor)
    with pytest.raises(AssertionError, match="not applied to the full sample"):
        ex7.check_jackknife_se(full_sample)
    with pytest.raises(AssertionError, match="ValueError"):
        ex7.check_jackknife_se(silent)
