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


def test_checkers_accept_correct_answers(capsys):
    ex7.check_compute_optimal(_compute_optimal)
    ex7.check_compute_optimal(ex7.compute_optimal_reference)
    ex7.check_induction_predict(_induction)
    ex7.check_induction_predict(ex7.induction_predict_reference)
    ex7.check_param_count(_param_count)
    assert capsys.readouterr().out.count("✓") == 5


def test_reference_examples():
    assert ex7.induction_predict_reference([3, 7, 5, 3, 7]) == [None, None, None, 7, 5]
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
