"""Scaled dot-product attention and (grouped-query) multi-head self-attention.

Taught in p1-6.1, p1-6.2 and p1-6.3 (attention, self-attention, multi-head),
p1-7.3 (grouped-query attention, RoPE) and p2-v-kv-cache (the KV cache). Shapes: B batch, H heads, T query positions,
S key positions, D head dimension, C = H·D model width.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from book.nn.layers import apply_rope, rope_angles


def causal_mask(t: int, s: int | None = None, device=None) -> torch.Tensor:
    """Boolean (T, S) mask, True where query i may attend to key j (j ≤ i + S − T)."""
    s = t if s is None else s
    return torch.ones(t, s, dtype=torch.bool, device=device).tril(diagonal=s - t)


def masked_scores(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None = None, causal: bool = False,
                  scale: float | None = None) -> torch.Tensor:
    """The attention scores q kᵀ · scale, −∞ where a key may not be attended to: (..., T, S).

    ``scale`` defaults to 1/√D. ``mask`` broadcasts to (..., T, S) with
    **True = keep** (the one mask convention of the book: a key-padding mask
    marks the real keys True); ``causal`` adds the bottom-right causal mask.
    Everything in the book that needs masked attention scores (the kernels'
    references, the exercise checkers) starts here.
    """
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"attention shapes do not fit: q {tuple(q.shape)} and k {tuple(k.shape)} "
                         "need the same last (head) dimension")
    if mask is not None and mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor (True = keep), got dtype {mask.dtype}")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = (q @ k.transpose(-2, -1)) * scale                         # (..., T, S)
    if causal:
        scores = scores.masked_fill(~causal_mask(q.shape[-2], k.shape[-2], q.device), float("-inf"))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
              causal: bool = False, scale: float | None = None,
              compute_dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q kᵀ · scale + mask) v, returning (output, weights).

    q: (..., T, D), k: (..., S, D), v: (..., S, Dv); ``mask`` broadcasts to
    (..., T, S) with True = keep; ``scale`` defaults to 1/√D. With
    ``compute_dtype`` (e.g. ``torch.float32`` for fp16/bf16 inputs) the
    arithmetic is done in that dtype and the output cast back to q's dtype,
    as a reference for low-precision kernels should be. Equals
    ``F.scaled_dot_product_attention``.

    >>> q = k = v = torch.eye(2)[None]
    >>> attention(q, k, v, causal=True)[1][0, 0].tolist()   # the first query sees only the first key
    [1.0, 0.0]
    """
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"attention shapes do not fit: k {tuple(k.shape)} and v {tuple(v.shape)} "
                         "need the same number of keys")
    out_dtype = q.dtype
    if compute_dtype is not None:
        q, k, v = q.to(compute_dtype), k.to(compute_dtype), v.to(compute_dtype)
    weights = torch.softmax(masked_scores(q, k, mask, causal, scale), dim=-1)
    return (weights @ v).to(out_dtype), weights                        # (..., T, Dv)


class MultiHeadAttention(nn.Module):
    """Causal multi-head self-attention with optional grouped-query heads and RoPE.

    ``n_kv_head`` key/value heads are shared by groups of ``n_head //
    n_kv_head`` query heads (``n_kv_head == n_head``: standard multi-head;
    ``1``: multi-query). The KV cache of a model holds only these heads.
    """

    def __init__(self, d_model: int, n_head: int, n_kv_head: int | None = None, rope: bool = False,
                 max_positions: int = 2048, bias: bool = True, dropout: float = 0.0, causal: bool = True):
        super().__init__()
        n_kv_head = n_kv_head or n_head
        if d_model % n_head:
            raise ValueError(f"d_model={d_model} is not divisible by n_head={n_head}")
        if n_head % n_kv_head:
            raise ValueError(f"n_head={n_head} is not divisible by n_kv_head={n_kv_head}")
        self.n_head, self.n_kv_head, self.head_dim = n_head, n_kv_head, d_model // n_head
        self.causal, self.rope, self.dropout = causal, rope, dropout
        self.q_proj = nn.Linear(d_model, n_head * self.head_dim, bias=bias)
        self.kv_proj = nn.Linear(d_model, 2 * n_kv_head * self.head_dim, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        if rope:
            cos, sin = rope_angles(max_positions, self.head_dim)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        """Self-attention over x (B, T, C); with a ``cache``, x holds the T newest tokens only.

        The cache supplies the keys/values of the earlier tokens and receives
        this call's; positions (RoPE) and the causal mask start after them.
        """
        b, t, c = x.shape                                                          # (B, T, C)
        past = cache.length if cache is not None else 0
        q = self.q_proj(x).view(b, t, self.n_head, self.head_dim).transpose(1, 2)  # (B, H, T, D)
        k, v = self.kv_proj(x).view(b, t, 2, self.n_kv_head, self.head_dim).permute(2, 0, 3, 1, 4)  # (B, Hkv, T, D)
        if self.rope:
            if past + t > self.rope_cos.shape[0]:
                raise ValueError(f"sequence length {past + t} exceeds max_positions={self.rope_cos.shape[0]}")
            cos, sin = self.rope_cos[past:past + t], self.rope_sin[past:past + t]
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            k, v = cache.update(layer, k, v)                                       # (B, Hkv, past+T, D)
        group = self.n_head // self.n_kv_head
        if group > 1:  # each key/value head serves `group` query heads
            k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        drop = self.dropout if self.training else 0.0
        if past and t > 1 and self.causal:   # queries start at position `past`: bottom-right causal mask
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(t, past + t, x.device), dropout_p=drop)
        else:                                # no cache (top-left = bottom-right) or one query (sees all)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal and t > 1, dropout_p=drop)
        return self.out_proj(y.transpose(1, 2).reshape(b, t, c))


class KVCache:
    """The keys and values of every layer for the tokens processed so far, in preallocated buffers.

    ``update(layer, k, v)`` writes this call's keys and values (B, H_kv, T, D)
    after the ones already held and returns views (B, H_kv, length, D) of
    everything so far. With ``max_length`` (a model's ``block_size``) each
    layer's buffers are allocated once, on first use, so a decoding step writes
    T positions in place instead of copying the whole cache; without it they
    double when full (amortised O(1) per token). Taught in p2-v-kv-cache.

    >>> c = KVCache(n_layer=1, max_length=8)
    >>> k, v = c.update(0, torch.ones(1, 2, 3, 4), torch.ones(1, 2, 3, 4))
    >>> tuple(k.shape), c.length, c.nbytes(), c.allocated_bytes()
    ((1, 2, 3, 4), 3, 192, 512)
    """

    def __init__(self, n_layer: int, max_length: int | None = None):
        if n_layer < 1:
            raise ValueError(f"n_layer must be >= 1, got {n_layer}")
        if max_length is not None and max_length < 1:
            raise ValueError(f"max_length must be >= 1 or None, got {max_length}")
        self.max_length = max_length
        self._k: list[torch.Tensor | None] = [None] * n_layer      # (B, H_kv, capacity, D) each
        self._v: list[torch.Tensor | None] = [None] * n_layer
        self._used = [0] * n_layer
        self._length = 0

    @property
    def length(self) -> int:
        """Tokens held (by every layer, once a forward pass has finished)."""
        return self._length

    @property
    def k(self) -> list[torch.Tensor | None]:
        """Per layer, the keys held: (B, H_kv, length, D) views, or None before the first token."""
        return [None if t is None else t[:, :, :n] for t, n in zip(self._k, self._used)]

    @property
    def v(self) -> list[torch.Tensor | None]:
        """Per layer, the values held: (B, H_kv, length, D) views, or None before the first token."""
        return [None if t is None else t[:, :, :n] for t, n in zip(self._v, self._used)]

    def _reserve(self, layer: int, k: torch.Tensor, v: torch.Tensor, needed: int) -> None:
        buf = self._k[layer]
        if buf is not None and needed <= buf.shape[2]:
            return
        if self.max_length is not None:
            if needed > self.max_length:
                raise ValueError(f"the cache holds at most max_length={self.max_length} positions; "
                                 f"this update needs {needed}")
            capacity = self.max_length
        else:
            capacity = max(needed, 2 * (buf.shape[2] if buf is not None else 0), 16)
        b, h, _, d = k.shape
        new_k = k.new_empty(b, h, capacity, d)
        new_v = v.new_empty(b, h, capacity, v.shape[-1])
        used = self._used[layer]
        if buf is not None:       # growth without max_length: one copy per doubling
            new_k[:, :, :used] = buf[:, :, :used]
            new_v[:, :, :used] = self._v[layer][:, :, :used]
        self._k[layer], self._v[layer] = new_k, new_v

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append k, v (B, H_kv, T, D) to ``layer``; return all of this layer's keys and values so far."""
        used = self._used[layer]
        held = self._k[layer]
        if held is not None and (k.shape[:2] != held.shape[:2] or k.shape[-1] != held.shape[-1]):
            raise ValueError(f"layer {layer}: new keys {tuple(k.shape)} do not match the cached "
                             f"(B, H_kv, ·, D) = {tuple(held.shape[:2]) + (held.shape[-1],)}")
        t = k.shape[2]
        self._reserve(layer, k, v, used + t)
        self._k[layer][:, :, used:used + t] = k
        self._v[layer][:, :, used:used + t] = v
        self._used[layer] = used + t
        if layer == len(self._k) - 1:
            self._length = used + t
        return self._k[layer][:, :, :used + t], self._v[layer][:, :, :used + t]

    def truncate(self, length: int) -> None:
        """Forget every position from ``length`` on (rejected draft tokens, Part III §VIII); buffers stay allocated.

        The next :meth:`update` writes over the forgotten positions, so nothing is copied.
        """
        if length < 0:
            raise ValueError(f"length must be >= 0, got {length}")
        self._used = [min(used, length) for used in self._used]
        self._length = min(self._length, length)

    def nbytes(self) -> int:
        """Bytes of the keys and values held: Σ over layers of K and V for ``length`` tokens (the formula)."""
        return sum(t.numel() * t.element_size() for t in self.k + self.v if t is not None)

    def allocated_bytes(self) -> int:
        """Bytes of the buffers allocated (capacity, not just what is held)."""
        return sum(t.numel() * t.element_size() for t in self._k + self._v if t is not None)


def kv_cache_bytes(n_layer: int, n_kv_head: int, head_dim: int, seq_len: int, batch: int = 1,
                   bytes_per_value: int = 2) -> int:
    """Bytes of a KV cache: 2 (K and V) · layers · KV heads · head dim · positions · batch · bytes."""
    return 2 * n_layer * n_kv_head * head_dim * seq_len * batch * bytes_per_value
