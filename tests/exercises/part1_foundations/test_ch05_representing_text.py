"""The chapter 5 exercise checkers accept correct answers and reject wrong ones."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from book.exercises.part1_foundations import ch05_representing_text as ex


def test_chance_rate_accepts_the_closed_form_and_rejects_sampling_with_replacement(capsys):
    ex.check_chance_rate(lambda roles: sum(k * (k - 1) for k in Counter(roles).values())
                         / (len(roles) * (len(roles) - 1)))
    assert "✓" in capsys.readouterr().out
    # A common slip: Σ (n_r/N)² lets a word be its own neighbour.
    with pytest.raises(AssertionError, match="without replacement"):
        ex.check_chance_rate(lambda roles: sum((k / len(roles)) ** 2 for k in Counter(roles).values()))
    with pytest.raises(ValueError):
        ex.chance_rate_reference(["only one"])


def test_embedding_backward_accepts_scatter_add_and_one_hot(capsys):
    ex.check_embedding_backward(ex.embedding_backward_reference)

    def via_one_hot(ids, grad_out, vocab_size):
        d = grad_out.shape[-1]
        one_hot = torch.nn.functional.one_hot(ids.reshape(-1), vocab_size).to(grad_out.dtype)  # (n, V)
        return one_hot.T @ grad_out.reshape(-1, d)

    ex.check_embedding_backward(via_one_hot)
    assert capsys.readouterr().out.count("✓") == 2


def test_embedding_backward_rejects_overwriting_repeated_rows():
    def last_write_wins(ids, grad_out, vocab_size):
        d = grad_out.shape[-1]
        out = torch.zeros(vocab_size, d, dtype=grad_out.dtype)
        out[ids.reshape(-1)] = grad_out.reshape(-1, d)  # repeated ids overwrite instead of adding up
        return out

    with pytest.raises(AssertionError, match="sum"):
        ex.check_embedding_backward(last_write_wins)
    with pytest.raises(AssertionError, match="shape"):
        ex.check_embedding_backward(lambda ids, g, V: g.reshape(-1, g.shape[-1]))


def test_bpe_encode_accepts_the_reference_and_rejects_greedy_longest_match(capsys):
    ex.check_bpe_encode(ex.bpe_encode_reference)
    assert "✓" in capsys.readouterr().out

    def forgets_end_of_word(word, merges):
        symbols = list(word)
        for pair in merges:
            symbols = ex.merge_pair(symbols, pair)
        return symbols

    with pytest.raises(AssertionError, match="</w>"):
        ex.check_bpe_encode(forgets_end_of_word)

    def most_frequent_first(word, merges):  # ignores the learned order
        symbols = list(word) + ["</w>"]
        for pair in sorted(merges, key=lambda p: -len(p[0] + p[1])):
            symbols = ex.merge_pair(symbols, pair)
        return symbols

    with pytest.raises(AssertionError):
        ex.check_bpe_encode(most_frequent_first)
