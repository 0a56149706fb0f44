"""The p2-v exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import pytest
import torch

from book.exercises.part2_pipeline import ch05_inference as ex
from book.nn.attention import KVCache


def test_repetition_penalty_accepts_the_rule_and_rejects_dividing_negatives(capsys):
    def by_hand(logits, prev, penalty):
        out = logits.clone()
        for b in range(logits.shape[0]):
            for v in set(prev[b].tolist()):
                out[b, v] = out[b, v] / penalty if out[b, v] > 0 else out[b, v] * penalty
        return out

    ex.check_repetition_penalty(by_hand)
    ex.check_repetition_penalty(ex.repetition_penalty_reference)
    assert "✓" in capsys.readouterr().out

    def divide_all(logits, prev, penalty):
        seen = torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, prev, True)
        return torch.where(seen, logits / penalty, logits)

    with pytest.raises(AssertionError, match="negative"):
        ex.check_repetition_penalty(divide_all)

    def shared_history(logits, prev, penalty):  # every row penalised by the whole batch's tokens
        seen = torch.zeros(logits.shape[-1], dtype=torch.bool)
        seen[prev.flatten()] = True
        lowered = torch.where(logits > 0, logits / penalty, logits * penalty)
        return torch.where(seen, lowered, logits)

    with pytest.raises(AssertionError, match="own history"):
        ex.check_repetition_penalty(shared_history)


def test_max_batch_accepts_floor_division_and_rejects_common_slips(capsys):
    ex.check_max_batch(ex.max_batch_reference)
    assert "✓" in capsys.readouterr().out

    def no_factor_two(m, w, L, h, d, T, s=2):
        return max(0, int((m - w) // (L * h * d * T * s)))

    with pytest.raises(AssertionError, match="factor 2"):
        ex.check_max_batch(no_factor_two)

    def ignores_weights(m, w, L, h, d, T, s=2):
        return int(m // (2 * L * h * d * T * s))

    with pytest.raises(AssertionError, match="weights"):
        ex.check_max_batch(ignores_weights)

    def negative(m, w, L, h, d, T, s=2):
        return int((m - w) // (2 * L * h * d * T * s))

    with pytest.raises(AssertionError, match="not a negative"):
        ex.check_max_batch(negative)


class _Preallocated:
    def __init__(self, n_layer, batch, n_kv_head, head_dim, max_len, dtype):
        self.k = [torch.zeros(batch, n_kv_head, max_len, head_dim, dtype=dtype) for _ in range(n_layer)]
        self.v = [torch.zeros(batch, n_kv_head, max_len, head_dim, dtype=dtype) for _ in range(n_layer)]
        self.length, self.max_len = 0, max_len

    def update(self, layer, k, v):
        end = self.length + k.shape[2]
        if end > self.max_len:
            raise ValueError("full")
        self.k[layer][:, :, self.length:end] = k
        self.v[layer][:, :, self.length:end] = v
        if layer == len(self.k) - 1:
            self.length = end
        return self.k[layer][:, :, :end], self.v[layer][:, :, :end]

    def nbytes(self):
        return sum(t[:, :, :self.length].numel() * t.element_size() for t in self.k + self.v)

    def allocated_bytes(self):
        return sum(t.numel() * t.element_size() for t in self.k + self.v)


def test_static_cache_accepts_a_preallocated_cache_and_the_package_cache(capsys):
    ex.check_static_cache(_Preallocated)
    ex.check_static_cache(lambda n_layer, batch, n_kv, head_dim, max_len, dtype: KVCache(n_layer, max_length=max_len))
    assert capsys.readouterr().out.count("✓") == 2


def test_static_cache_rejects_growing_copying_and_miscounting_caches():
    class Growing(KVCache):  # right logits, but it reserves memory as the tokens come (doubling)
        def __init__(self, n_layer, batch, n_kv_head, head_dim, max_len, dtype):
            super().__init__(n_layer)

    with pytest.raises(AssertionError, match="from the start"):
        ex.check_static_cache(Growing)

    class Copying(_Preallocated):  # reports the right sizes, but concatenates at every call
        def update(self, layer, k, v):
            keys, values = super().update(layer, k, v)
            out = torch.cat([keys[:, :, :0], keys], dim=2), torch.cat([values[:, :, :0], values], dim=2)
            self.__dict__.setdefault("returned", []).append(out)   # kept alive, so new memory every call
            return out

    with pytest.raises(AssertionError, match="torch.cat"):
        ex.check_static_cache(Copying)

    class CountsCapacity(_Preallocated):  # nbytes() reports what is reserved, not what is held
        def nbytes(self):
            return self.allocated_bytes()

    with pytest.raises(AssertionError, match="count only the positions held"):
        ex.check_static_cache(CountsCapacity)

    class NewOnly(_Preallocated):  # forgets to return the old positions
        def update(self, layer, k, v):
            super().update(layer, k, v)
            return k, v

    with pytest.raises(AssertionError, match="ALL stored positions"):
        ex.check_static_cache(NewOnly)

    class Unbounded(_Preallocated):  # silently drops tokens past max_len instead of refusing
        def update(self, layer, k, v):
            if self.length + k.shape[2] > self.max_len:
                return self.k[layer], self.v[layer]
            return super().update(layer, k, v)

    with pytest.raises(AssertionError, match="ValueError"):
        ex.check_static_cache(Unbounded)
