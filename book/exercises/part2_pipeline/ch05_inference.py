"""Exercise checkers for p2-v (inference: sampling rules and the KV cache)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from book.exercises import passed
from book.nn.attention import KVCache, kv_cache_bytes
from book.nn.gpt import GPT, GPTConfig


def repetition_penalty_reference(logits: torch.Tensor, prev: torch.Tensor, penalty: float) -> torch.Tensor:
    """CTRL's repetition penalty, two-sided: a seen token's logit z becomes z / penalty if z > 0, else z · penalty.

    Each row of ``logits`` (B, V) is penalised by its own history ``prev`` (B, T).
    """
    seen = torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, prev, True)
    lowered = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, lowered, logits)


def check_repetition_penalty(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> None:
    """``fn(logits (B, V), prev (B, T) ids, penalty)`` must equal :func:`repetition_penalty_reference`."""
    g = torch.Generator().manual_seed(0)
    cases = [
        # both signs, a repeat, a zero
        (torch.tensor([[2.0, -1.0, 0.5, -3.0, 0.0]]), torch.tensor([[0, 1, 1, 4]]), 2.0),
        (torch.randn(4, 30, generator=g) * 3, torch.randint(0, 30, (4, 12), generator=g), 1.3),  # rows differ
        (torch.randn(3, 9, generator=g), torch.randint(0, 9, (3, 20), generator=g), 1.0),        # penalty 1: no change
        (torch.randn(2, 7, generator=g), torch.zeros(2, 0, dtype=torch.long), 1.5),              # empty history
    ]
    for logits, prev, penalty in cases:
        want = repetition_penalty_reference(logits, prev, penalty)
        got = fn(logits.clone(), prev.clone(), penalty)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            raise AssertionError(f"expected a tensor of shape {tuple(want.shape)}, got "
                                 f"{getattr(got, 'shape', type(got).__name__)}")
        if torch.allclose(got, want, rtol=1e-6, atol=1e-7):
            continue
        seen = torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, prev, True) if prev.numel() else \
            torch.zeros_like(logits, dtype=torch.bool)
        bad = ~torch.isclose(got, want, rtol=1e-6, atol=1e-7)
        if (bad & seen & (logits < 0)).any() and not (bad & seen & (logits > 0)).any():
            hint = ("negative logits of seen tokens are wrong: dividing a negative logit by a penalty > 1 raises "
                    "it towards 0; multiply negatives by the penalty instead")
        elif (bad & ~seen).any():
            hint = ("tokens that row never produced were changed: penalise each row by its own history only "
                    "(scatter prev into a (B, V) mask)")
        else:
            hint = "seen tokens with positive logits should be divided by the penalty"
        raise AssertionError(f"repetition penalty differs (penalty {penalty}, logits shape {tuple(logits.shape)}): "
                             f"{hint}")
    passed(f"repetition penalty matches the reference on {len(cases)} cases, empty history and penalty 1 included")


def max_batch_reference(memory_bytes: float, weight_bytes: float, n_layer: int, n_kv_head: int, head_dim: int,
                        seq_len: int, bytes_per_value: int = 2) -> int:
    """The largest number of ``seq_len``-token sequences whose KV caches fit beside the weights (≥ 0)."""
    per_sequence = kv_cache_bytes(n_layer, n_kv_head, head_dim, seq_len, 1, bytes_per_value)
    return max(0, int((memory_bytes - weight_bytes) // per_sequence))


def check_max_batch(fn: Callable[..., int]) -> None:
    """``fn(memory_bytes, weight_bytes, n_layer, n_kv_head, head_dim, seq_len, bytes_per_value=2)``."""
    gib = 2 ** 30
    cases = [
        (80 * gib, 13 * gib, 32, 32, 128, 4096, 2),       # a 7B-like model with full multi-head attention
        (80 * gib, 13 * gib, 32, 8, 128, 4096, 2),        # the same with grouped-query attention
        (80 * gib, 13 * gib, 32, 8, 128, 32_768, 2),
        (24 * gib, 16 * gib, 32, 32, 128, 4096, 2),       # four sequences fit exactly
        (24 * gib, 16 * gib + 1, 32, 32, 128, 4096, 2),   # one byte less: three
        (16 * gib, 20 * gib, 32, 32, 128, 4096, 2),       # the weights alone do not fit
        (1 * gib, 0, 4, 1, 32, 1000, 4),                  # multi-query, fp32
    ]
    for memory, weights, n_layer, n_kv, head_dim, seq_len, bpv in cases:
        want = max_batch_reference(memory, weights, n_layer, n_kv, head_dim, seq_len, bpv)
        got = fn(memory, weights, n_layer, n_kv, head_dim, seq_len, bpv)
        if got == want:
            continue
        if want and got in (2 * want, 2 * want + 1):
            hint = "your cache is half the size it should be: keys AND values, the factor 2"
        elif want > 0 and got == want + 1:
            hint = "round down: a fraction of a sequence does not fit"
        elif want == 0 and got < 0:
            hint = "when nothing fits the answer is 0, not a negative batch"
        elif memory // kv_cache_bytes(n_layer, n_kv, head_dim, seq_len, 1, bpv) == got:
            hint = "the weights occupy part of the memory: subtract them first"
        else:
            hint = "per sequence the cache holds 2·L·H_kv·D·T·s bytes"
        raise AssertionError(f"max_batch(memory={memory:,}, weights={weights:,}, L={n_layer}, H_kv={n_kv}, "
                             f"D={head_dim}, T={seq_len}, s={bpv}) returned {got}, expected {want}: {hint}")
    passed(f"max_batch correct on {len(cases)} configurations, an exact fit and no room at all included")


def check_static_cache(make_cache: Callable[..., object]) -> None:
    """``make_cache(n_layer, batch, n_kv_head, head_dim, max_len, dtype)``: a drop-in KV cache that writes in place.

    Decodes with it in uneven chunks through two float64 GPTs (multi-head with
    learned positions; grouped-query with RoPE) and compares every logit with
    the package's :class:`~book.nn.attention.KVCache`; ``nbytes()`` must count
    the positions held and ``allocated_bytes()`` the ``max_len`` positions
    reserved (Eq. p2-v-kv-bytes), and the keys ``update`` returns must stay in
    the same memory from call to call (no copy of the cache per step).
    """
    batch, max_len = 3, 40
    configs = [GPTConfig(vocab_size=23, block_size=48, n_layer=2, n_head=4, d_model=32),
               GPTConfig(vocab_size=23, block_size=48, n_layer=3, n_head=4, n_kv_head=2, d_model=32,
                         positions="rope", norm="rmsnorm", mlp="swiglu")]
    chunks = [7, 1, 1, 5, 2, 1, 11, 1, 1, 10]                      # sums to max_len
    for cfg in configs:
        torch.manual_seed(0)
        model = GPT(cfg).double().eval()
        ids = torch.randint(0, cfg.vocab_size, (batch, max_len + 1), generator=torch.Generator().manual_seed(1))
        head_dim = cfg.d_model // cfg.n_head
        n_kv = cfg.n_kv_head or cfg.n_head
        cache = make_cache(cfg.n_layer, batch, n_kv, head_dim, max_len, torch.float64)
        reference = KVCache(cfg.n_layer)
        reserved = kv_cache_bytes(cfg.n_layer, n_kv, head_dim, max_len, batch, 8)
        where: dict[int, int] = {}                                  # layer -> address of the keys update returned
        moved: list[int] = []
        update = cache.update

        def watched(layer, k, v, update=update, where=where, moved=moved):
            keys, values = update(layer, k, v)
            if where.setdefault(layer, keys.data_ptr()) != keys.data_ptr():
                moved.append(layer)
            return keys, values

        cache.update = watched
        start = 0
        with torch.no_grad():
            for c in chunks:
                piece = ids[:, start:start + c]
                got = model(piece, cache=cache)[0]
                want = model(piece, cache=reference)[0]
                if not torch.allclose(got, want, rtol=0, atol=1e-10):
                    err = (got - want).abs().max().item()
                    raise AssertionError(f"logits differ from KVCache's by up to {err:.1e} on tokens {start}–"
                                         f"{start + c - 1} ({n_kv} KV heads, chunk of {c}): "
                                         "update must return the keys/values of ALL stored positions, old then new, "
                                         "and advance length only after the last layer")
                start += c
                if cache.length != start:
                    raise AssertionError(f"length is {cache.length} after {start} tokens were fed")
                held = kv_cache_bytes(cfg.n_layer, n_kv, head_dim, start, batch, 8)
                if cache.nbytes() != held:
                    hint = (" (that is what is reserved; count only the positions held)"
                            if cache.nbytes() == reserved else
                            " (did you allocate n_head instead of n_kv_head heads?)")
                    raise AssertionError(f"nbytes() is {cache.nbytes():,} after {start} tokens; the positions held "
                                         f"take 2·L·H_kv·D·length·B·8 = {held:,} bytes{hint}")
                if cache.allocated_bytes() != reserved:
                    raise AssertionError(f"allocated_bytes() is {cache.allocated_bytes():,} after {start} tokens; a "
                                         f"cache preallocated for max_len={max_len} reserves 2·L·H_kv·D·max_len·B·8 = "
                                         f"{reserved:,} bytes from the start")
                if moved:
                    raise AssertionError(f"layer {moved[0]}'s keys moved to new memory during the chunk ending at "
                                         f"token {start}: write into the buffers you allocated (k_buf[:, :, a:b] = k) "
                                         "instead of building new tensors with torch.cat")
        try:
            with torch.no_grad():
                model(ids[:, max_len:max_len + 1], cache=cache)
        except ValueError:
            pass
        else:
            raise AssertionError(f"a cache full at max_len={max_len} accepted another token; raise ValueError")
    passed(f"preallocated cache = KVCache to 1e-10 on {len(configs)} models (MHA; GQA with RoPE), "
           f"chunks {chunks}, written in place; nbytes and allocated_bytes = the formula; it refuses to overflow")
