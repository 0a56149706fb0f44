"""The cost of a token: FLOPs and bytes of prefill and decode, the roofline, dollars per million tokens.

A decoder-only transformer does the same arithmetic per token in both phases
of generation, but not the same memory traffic. *Prefill* pushes a whole
prompt of T tokens through every weight matrix at once, so each weight read
from memory serves T tokens; *decode* produces one token per sequence per step
and has to read every weight again for it. This module counts both, places
them on the roofline of a chip (attainable FLOP/s = min(peak, intensity ×
bandwidth)), and turns a step time into tokens per second and dollars per
million tokens. Taught in p6-1.1 (the counts), p6-1.2 (the roofline), p6-1.3
(the measured decode on a CPU) and p6-1.4 (the cost model).

What is counted, and what is left out on purpose:

* FLOPs: 2 per weight of every matrix multiplication (the LM head included,
  embedding lookups excluded, as they are reads, not products), plus
  ``4 · n_layer · n_head · head_dim`` per (query, key) pair for the scores and
  the weighted sum of values. Attention is counted dense, the way
  ``torch.utils.flop_counter`` counts it; a causal kernel skips about half of a
  prefill's pairs. Norms, activations and softmax are a few FLOPs per element
  and ignored.
* Bytes: the matmul weights once per forward pass, plus the KV cache read
  (decode) or written (prefill). Activations are ignored: for one token they
  are a few vectors of ``d_model`` numbers against millions of weights.

>>> c = decode_cost(LLAMA2_70B, context=0, bytes_per_param=2)
>>> round(c.intensity, 2)         # about one FLOP per byte of bf16 weights: deep in memory-bound territory
1.0
>>> round(cost_per_million_tokens(2.0, 30.0), 1)    # $2 per GPU-hour at 30 tokens/s
18.5
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def _positive(name: str, value: float, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not (isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(value) and ok):
        need = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise ValueError(f"{name} must be {need}, got {value!r}")


@dataclass(frozen=True)
class TransformerShape:
    """The sizes that decide a decoder-only transformer's inference cost.

    ``gated_mlp`` means three FFN matrices (SwiGLU: gate, up, down) instead of
    two; ``tied_embeddings`` means the LM head reuses the token embedding
    (which changes the parameter count, not the FLOPs or the bytes a forward
    pass reads). Taught in p6-1.1.

    >>> s = TransformerShape(n_layer=2, d_model=64, n_head=4, n_kv_head=4, d_ff=256, vocab_size=64)
    >>> s.head_dim, s.kv_dim, s.matmul_params
    (16, 64, 102400)
    """

    n_layer: int
    d_model: int
    n_head: int
    n_kv_head: int
    d_ff: int
    vocab_size: int
    gated_mlp: bool = False
    tied_embeddings: bool = True
    name: str = ""

    def __post_init__(self):
        for field in ("n_layer", "d_model", "n_head", "n_kv_head", "d_ff", "vocab_size"):
            value = getattr(self, field)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{field} must be a positive integer, got {value!r}")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model={self.d_model} must be divisible by n_head={self.n_head}")
        if self.n_head % self.n_kv_head:
            raise ValueError(f"n_head={self.n_head} must be a multiple of n_kv_head={self.n_kv_head}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def kv_dim(self) -> int:
        """Width of the keys (and of the values) of one layer: n_kv_head · head_dim."""
        return self.n_kv_head * self.head_dim

    @property
    def layer_params(self) -> int:
        """Weights of one block's matrices: Q and O (d²), K and V (d · kv_dim each), the FFN."""
        attn = 2 * self.d_model * self.d_model + 2 * self.d_model * self.kv_dim
        ffn = (3 if self.gated_mlp else 2) * self.d_model * self.d_ff
        return attn + ffn

    @property
    def matmul_params(self) -> int:
        """Every weight a forward pass multiplies by: the blocks and the LM head."""
        return self.n_layer * self.layer_params + self.vocab_size * self.d_model

    @property
    def n_params(self) -> int:
        """Matrix weights including the embedding table (once if tied); norms and biases left out."""
        embedding = 0 if self.tied_embeddings else self.vocab_size * self.d_model
        return self.matmul_params + embedding

    @classmethod
    def from_gpt_config(cls, cfg) -> TransformerShape:
        """The shape of a :class:`book.nn.gpt.GPTConfig` (GELU or SwiGLU MLP, MHA or GQA)."""
        if getattr(cfg, "n_experts", 0):
            raise ValueError("cfg.n_experts > 0: a mixture of experts reads only some experts per token; "
                             "this cost model covers dense models")
        if cfg.mlp == "swiglu":
            d_ff = 8 * math.ceil(8 * cfg.d_model / 3 / 8)
        else:
            d_ff = 4 * cfg.d_model
        return cls(n_layer=cfg.n_layer, d_model=cfg.d_model, n_head=cfg.n_head,
                   n_kv_head=cfg.n_kv_head or cfg.n_head, d_ff=d_ff, vocab_size=cfg.vocab_size,
                   gated_mlp=cfg.mlp == "swiglu", tied_embeddings=cfg.tie_embeddings, name="book GPT")


# LLaMA-2-70B as released (Touvron et al. 2023, and the config.json published with the weights):
# 80 layers, d_model 8192, 64 query heads of 128, grouped-query attention with 8 key/value heads,
# SwiGLU FFN of width 28672, a 32000-token vocabulary, untied embeddings. LLaMA-3-70B has the
# same blocks with a 128256-token vocabulary.
LLAMA2_70B = TransformerShape(n_layer=80, d_model=8192, n_head=64, n_kv_head=8, d_ff=28672,
                              vocab_size=32000, gated_mlp=True, tied_embeddings=False, name="LLaMA-2-70B")


@dataclass(frozen=True)
class Hardware:
    """A chip's two roofs and its memory: peak FLOP/s, memory bandwidth (bytes/s), memory (bytes)."""

    name: str
    peak_flops: float
    bandwidth: float
    memory_bytes: float = math.inf

    def __post_init__(self):
        _positive("peak_flops", self.peak_flops)
        _positive("bandwidth", self.bandwidth)
        if not (isinstance(self.memory_bytes, (int, float)) and self.memory_bytes > 0):
            raise ValueError(f"memory_bytes must be > 0 (math.inf when unbounded), got {self.memory_bytes!r}")

    @property
    def ridge(self) -> float:
        """The ridge point P/B in FLOP/byte: kernels of lower intensity are memory-bound."""
        return self.peak_flops / self.bandwidth


# Vendor datasheet figures: dense BF16 tensor-core peaks (the datasheets' larger numbers
# assume 2:4 sparsity) and HBM bandwidth.
A100_SXM_80GB = Hardware("A100 SXM 80GB", peak_flops=312e12, bandwidth=2.039e12, memory_bytes=80e9)
H200_SXM = Hardware("H200 SXM", peak_flops=989e12, bandwidth=4.8e12, memory_bytes=141e9)


@dataclass(frozen=True)
class Cost:
    """FLOPs and bytes of memory traffic of one forward pass, and the intensity they imply."""

    flops: float
    bytes: float
    tokens: int

    @property
    def intensity(self) -> float:
        """Arithmetic intensity in FLOP per byte."""
        return self.flops / self.bytes


def kv_cache_bytes(shape: TransformerShape, tokens: int, batch: int = 1, kv_bytes: float = 2.0) -> float:
    """Bytes of the keys and values of ``tokens`` positions for ``batch`` sequences: 2·L·H_kv·D·T·B·s.

    >>> kv_cache_bytes(LLAMA2_70B, tokens=1) / 2**10     # KiB per token in bf16
    320.0
    """
    _positive("tokens", tokens, allow_zero=True)
    _positive("batch", batch)
    _positive("kv_bytes", kv_bytes)
    return 2.0 * shape.n_layer * shape.kv_dim * tokens * batch * kv_bytes


def prefill_cost(shape: TransformerShape, prompt_len: int, batch: int = 1,
                 bytes_per_param: float = 2.0, kv_bytes: float = 2.0) -> Cost:
    """One forward pass over ``batch`` prompts of ``prompt_len`` tokens: weights read once, KV cache written.

    FLOPs = B·T·2·(matmul weights) + B·4·L·d_attn·T² (attention counted dense).

    >>> c = prefill_cost(LLAMA2_70B, prompt_len=512)
    >>> 450 < c.intensity < 550          # about T FLOP per byte: one bf16 weight read serves T tokens
    True
    """
    if not isinstance(prompt_len, (int, np.integer)) or prompt_len < 1:
        raise ValueError(f"prompt_len must be a positive integer, got {prompt_len!r}")
    _positive("batch", batch)
    _positive("bytes_per_param", bytes_per_param)
    attn_width = shape.n_head * shape.head_dim
    flops = batch * (2.0 * shape.matmul_params * prompt_len + 4.0 * shape.n_layer * attn_width * prompt_len ** 2)
    traffic = shape.matmul_params * bytes_per_param + kv_cache_bytes(shape, prompt_len, batch, kv_bytes)
    return Cost(flops, traffic, batch * prompt_len)


def decode_cost(shape: TransformerShape, context: int, batch: int = 1,
                bytes_per_param: float = 2.0, kv_bytes: float = 2.0) -> Cost:
    """One decoding step: each of ``batch`` sequences adds one token after ``context`` cached ones.

    The weights are read once for the whole batch; every sequence's cache is
    read (``context`` positions) and one position written.

    >>> one, many = decode_cost(LLAMA2_70B, 0, batch=1), decode_cost(LLAMA2_70B, 0, batch=64)
    >>> round(many.intensity / one.intensity)   # with no cache to read, a batch of 64 has 64× the intensity
    64
    """
    if not isinstance(context, (int, np.integer)) or context < 0:
        raise ValueError(f"context must be an integer >= 0, got {context!r}")
    _positive("batch", batch)
    _positive("bytes_per_param", bytes_per_param)
    attn_width = shape.n_head * shape.head_dim
    flops = batch * (2.0 * shape.matmul_params + 4.0 * shape.n_layer * attn_width * (context + 1))
    traffic = (shape.matmul_params * bytes_per_param
               + kv_cache_bytes(shape, context + 1, batch, kv_bytes))
    return Cost(flops, traffic, batch)


def attainable_flops(intensity, peak_flops: float, bandwidth: float):
    """The roofline: min(peak, intensity × bandwidth), elementwise for arrays.

    >>> float(attainable_flops(1.0, 312e12, 2e12)) / 1e12     # a GEMV-like intensity on an A100-like chip
    2.0
    """
    _positive("peak_flops", peak_flops)
    _positive("bandwidth", bandwidth)
    i = np.asarray(intensity, dtype=float)
    if np.any(~np.isfinite(i)) or np.any(i <= 0):
        raise ValueError(f"intensity must be finite and > 0, got {intensity!r}")
    return np.minimum(peak_flops, i * bandwidth)


def step_time(cost: Cost, hw: Hardware) -> float:
    """Lower bound on a pass's time: max(FLOPs / peak, bytes / bandwidth) seconds."""
    return max(cost.flops / hw.peak_flops, cost.bytes / hw.bandwidth)


def max_batch(shape: TransformerShape, hw: Hardware, context: int,
              bytes_per_param: float = 2.0, kv_bytes: float = 2.0) -> int:
    """How many sequences of ``context`` tokens fit next to the weights in the chip's memory (0 if none).

    >>> max_batch(LLAMA2_70B, A100_SXM_80GB, context=2048, bytes_per_param=1)
    16
    """
    free = hw.memory_bytes - shape.matmul_params * bytes_per_param
    if free <= 0:
        return 0
    if math.isinf(free):
        raise ValueError(f"hw.memory_bytes is infinite for {hw.name!r}: give the chip's memory to bound the batch")
    return int(free // kv_cache_bytes(shape, context, 1, kv_bytes))


def decode_tokens_per_second(shape: TransformerShape, hw: Hardware, context: int, batch: int = 1,
                             bytes_per_param: float = 2.0, kv_bytes: float = 2.0) -> float:
    """Roofline bound on decode throughput: batch / step_time (tokens per second, all sequences).

    >>> round(decode_tokens_per_second(LLAMA2_70B, A100_SXM_80GB, context=0, bytes_per_param=1))
    30
    """
    return batch / step_time(decode_cost(shape, context, batch, bytes_per_param, kv_bytes), hw)


def cost_per_million_tokens(dollars_per_hour: float, tokens_per_second: float) -> float:
    """Dollars per million generated tokens at a rental price and a sustained throughput.

    >>> cost_per_million_tokens(2.0, 30.0 * 4) < 5
    True
    """
    _positive("dollars_per_hour", dollars_per_hour)
    _positive("tokens_per_second", tokens_per_second)
    return dollars_per_hour / (3600.0 * tokens_per_second) * 1e6
