"""Scaled dot-product attention and (grouped-query) multi-head self-attention.

Taught in Part I §6.1–§6.3 (attention, self-attention, multi-head) and §7.3
(grouped-query attention, RoPE). Shapes: B batch, H heads, T query positions,
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


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
              causal: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q kᵀ / √D + mask) v, returning (output, weights).

    q: (..., T, D), k: (..., S, D), v: (..., S, Dv); ``mask`` broadcasts to
    (..., T, S) with True = keep. Equals ``F.scaled_dot_product_attention``.
    """
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"attention shapes do not fit: q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}")
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])         # (..., T, S)
    if causal:
        scores = scores.masked_fill(~causal_mask(q.shape[-2], k.shape[-2], q.device), float("-inf"))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights                                        # (..., T, Dv)


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

    def forward(self, x: torch.Tensor, cache: "KVCache | None" = None, layer: int = 0) -> torch.Tensor:
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
    """The keys and values of every layer for the tokens processed so far.

    ``k[layer]``/``v[layer]`` are (B, H_kv, length, D); each forward call with
    the cache appends its tokens' keys and values. Taught in Part II §V.
    """

    def __init__(self, n_layer: int):
        self.k: list[torch.Tensor | None] = [None] * n_layer
        self.v: list[torch.Tensor | None] = [None] * n_layer
        self._length = 0

    @property
    def length(self) -> int:
        return self._length

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.k[layer] is None:
            self.k[layer], self.v[layer] = k, v
        else:
            self.k[layer] = torch.cat([self.k[layer], k], dim=2)
            self.v[layer] = torch.cat([self.v[layer], v], dim=2)
        if layer == len(self.k) - 1:
            self._length = self.k[layer].shape[2]
        return self.k[layer], self.v[layer]

    def nbytes(self) -> int:
        """Bytes held: Σ over layers of K and V tensor sizes."""
        return sum(t.numel() * t.element_size() for t in self.k + self.v if t is not None)


def kv_cache_bytes(n_layer: int, n_kv_head: int, head_dim: int, seq_len: int, batch: int = 1,
                   bytes_per_value: int = 2) -> int:
    """Bytes of a KV cache: 2 (K and V) · layers · KV heads · head dim · positions · batch · bytes."""
    return 2 * n_layer * n_kv_head * head_dim * seq_len * batch * bytes_per_value
