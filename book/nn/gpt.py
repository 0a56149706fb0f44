"""The book's GPT: a decoder-only transformer, small enough to train on a CPU.

One configuration class covers the 2018-style model of p1-6.4 and p1-7.1
(LayerNorm, GELU MLP, learned positions) and the modern variants of p1-7.3 and
p1-7.4 (RMSNorm, SwiGLU, RoPE, grouped-query attention, a top-k mixture of
experts), so a chapter changes one field to swap a component. Later parts
reuse it for LoRA, quantisation, speculative decoding and the serving engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from book.nn.attention import KVCache, MultiHeadAttention, kv_cache_bytes
from book.nn.layers import MLP, SwiGLU, make_norm, sinusoidal_positions
from book.nn.moe import TopKMoE


@dataclass(frozen=True)
class GPTConfig:
    """Sizes and components. Defaults: a ~0.1M-parameter model for the stories corpus.

    GPT-2 small, for scale: vocab_size=50257, block_size=1024, n_layer=12,
    n_head=12, d_model=768 (124M parameters).
    """

    vocab_size: int = 64
    block_size: int = 64
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 64
    n_kv_head: int | None = None      # None: standard multi-head; < n_head: grouped-query attention
    norm: str = "layernorm"           # or "rmsnorm"
    mlp: str = "gelu"                 # or "swiglu"
    positions: str = "learned"        # or "sinusoidal", "rope"
    n_experts: int = 0                # > 0: a top-k mixture of experts replaces the MLP
    top_k: int = 2
    dropout: float = 0.0
    bias: bool = True                 # biases of the linear layers (the LayerNorms keep theirs)
    tie_embeddings: bool = True

    def __post_init__(self):
        if self.d_model % self.n_head:
            raise ValueError(f"d_model={self.d_model} must be divisible by n_head={self.n_head}")
        if self.positions not in ("learned", "sinusoidal", "rope"):
            raise ValueError(f"positions must be 'learned', 'sinusoidal' or 'rope', got {self.positions!r}")
        if self.mlp not in ("gelu", "swiglu"):
            raise ValueError(f"mlp must be 'gelu' or 'swiglu', got {self.mlp!r}")


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x)).

    ``causal=False`` gives the bidirectional encoder block of BERT (p2-vi).
    """

    def __init__(self, cfg: GPTConfig, causal: bool = True):
        super().__init__()
        self.norm1 = make_norm(cfg.norm, cfg.d_model)
        self.attn = MultiHeadAttention(cfg.d_model, cfg.n_head, cfg.n_kv_head, rope=cfg.positions == "rope",
                                       max_positions=cfg.block_size, bias=cfg.bias, dropout=cfg.dropout,
                                       causal=causal)
        self.norm2 = make_norm(cfg.norm, cfg.d_model)
        if cfg.n_experts:
            self.mlp = TopKMoE(cfg.d_model, cfg.n_experts, cfg.top_k)
        elif cfg.mlp == "swiglu":
            self.mlp = SwiGLU(cfg.d_model, dropout=cfg.dropout)
        else:
            self.mlp = MLP(cfg.d_model, bias=cfg.bias, dropout=cfg.dropout)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), cache, layer)
        return x + self.mlp(self.norm2(x))


class GPT(nn.Module):
    """The decoder-only language model: embeddings → ``n_layer`` pre-norm blocks → final norm → tied LM head.

    ``model(idx, targets)`` returns ``(logits (B, T, V), mean cross-entropy or
    None)``; ``generate`` samples continuations (optionally with a KV cache);
    ``num_params`` and ``kv_cache_bytes`` give the sizes chapters reason about.
    Initialisation follows GPT-2 (normal(0, 0.02), residual projections scaled
    by 1/√(2·n_layer)). Taught in p1-6.4 and p1-7.1; shapes: B batch, T
    positions, C = d_model, V vocabulary.
    """

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        if cfg.positions == "learned":
            self.pos_emb = nn.Embedding(cfg.block_size, cfg.d_model)
        elif cfg.positions == "sinusoidal":
            # Scaled to the token embeddings' initial size (std 0.02): at full
            # amplitude the fixed table would drown the token identities.
            table = 0.02 * sinusoidal_positions(cfg.block_size, cfg.d_model)
            self.register_buffer("pos_table", table, persistent=False)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.norm_f = make_norm(cfg.norm, cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.head.weight = self.tok_emb.weight
        self.apply(self._init)
        # GPT-2's scaled init: residual projections shrink with depth so the
        # residual stream's variance does not grow with the number of blocks.
        for name, p in self.named_parameters():
            if name.endswith(("out_proj.weight", "down.weight")):
                nn.init.normal_(p, 0.0, 0.02 / (2 * cfg.n_layer) ** 0.5)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)

    def num_params(self, non_embedding: bool = False) -> int:
        """Parameter count (tied weights once); optionally without the embedding tables."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.tok_emb.weight.numel()
            if self.cfg.positions == "learned":
                n -= self.pos_emb.weight.numel()
        return n

    def _check_token_ids(self, idx: torch.Tensor) -> None:
        lo, hi = torch.stack(torch.aminmax(idx)).tolist() if idx.numel() else (0, 0)   # one transfer to the host
        if lo < 0 or hi >= self.cfg.vocab_size:
            raise ValueError(f"idx holds token ids in [{lo}, {hi}], outside the vocabulary "
                             f"[0, {self.cfg.vocab_size})") from None     # not "during handling of IndexError"

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, cache: KVCache | None = None):
        """Logits (B, T, V) for token ids (B, T); with targets, also the mean cross-entropy.

        With a :class:`~book.nn.attention.KVCache`, ``idx`` holds only the new
        tokens; their positions continue after the ``cache.length`` cached ones.
        """
        if idx.dim() != 2:
            raise ValueError(f"idx must be (batch, time) token ids, got shape {tuple(idx.shape)}")
        if idx.device.type != "cpu" and not torch.compiler.is_compiling():
            self._check_token_ids(idx)     # on a GPU a bad id is a device-side assert, fatal: check before the lookup
        b, t = idx.shape
        past = cache.length if cache is not None else 0
        if past + t > self.cfg.block_size:
            raise ValueError(f"sequence length {past + t} exceeds block_size={self.cfg.block_size}")
        try:
            x = self.tok_emb(idx)                                              # (B, T, C)
        except IndexError:                 # on a CPU the lookup finds a bad id itself: name it, free for good input
            self._check_token_ids(idx)
            raise
        if self.cfg.positions == "learned":
            x = x + self.pos_emb(torch.arange(past, past + t, device=idx.device))
        elif self.cfg.positions == "sinusoidal":
            x = x + self.pos_table[past:past + t]
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, cache, i)
        logits = self.head(self.norm_f(x))                                     # (B, T, V)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    def aux_loss(self) -> torch.Tensor:
        """Sum of the mixture-of-experts load-balancing losses of the last forward pass (0 without MoE)."""
        losses = [blk.mlp.aux_loss for blk in self.blocks if isinstance(blk.mlp, TopKMoE)]
        return torch.stack(losses).sum() if losses else torch.zeros(())

    def new_cache(self) -> KVCache:
        """An empty KV cache with room for ``block_size`` positions, allocated on first use."""
        return KVCache(self.cfg.n_layer, max_length=self.cfg.block_size)

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None, generator: torch.Generator | None = None,
                 use_cache: bool = False) -> torch.Tensor:
        """Append ``max_new_tokens`` tokens to the prompt ``idx`` (B, T), each drawn by ``sampling.sample``.

        ``temperature``, ``top_k`` and ``top_p`` mean what they mean in
        :func:`book.inference.sampling.sample`
        (temperature 0 is greedy decoding). Without a cache every step re-reads
        the last ``block_size`` tokens; with ``use_cache`` each step feeds only
        the newest token (the whole sequence must then fit in ``block_size``).
        """
        from book.inference.sampling import sample

        cache = self.new_cache() if use_cache else None
        if use_cache and idx.shape[1] + max_new_tokens > self.cfg.block_size:
            raise ValueError(f"prompt ({idx.shape[1]}) + new tokens ({max_new_tokens}) exceed "
                             f"block_size={self.cfg.block_size}; generate without the cache to slide the window")
        for step in range(max_new_tokens):
            if cache is None:
                logits, _ = self(idx[:, -self.cfg.block_size:])
            else:
                logits, _ = self(idx if step == 0 else idx[:, -1:], cache=cache)
            nxt = sample(logits[:, -1, :], temperature, top_k=top_k, top_p=top_p, generator=generator)
            idx = torch.cat([idx, nxt[:, None]], dim=1)
        return idx

    def kv_cache_bytes(self, seq_len: int, batch: int = 1, bytes_per_value: int = 2) -> int:
        cfg = self.cfg
        return kv_cache_bytes(cfg.n_layer, cfg.n_kv_head or cfg.n_head, cfg.d_model // cfg.n_head,
                              seq_len, batch, bytes_per_value)
