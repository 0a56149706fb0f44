"""A tiny BERT: a bidirectional transformer encoder with masked-LM and classifier heads.

The encoder is the GPT's block without the causal mask: every token attends
to every other. Pre-training hides a fraction of tokens (:func:`mask_tokens`,
BERT's 80/10/10 rule) and predicts them; fine-tuning adds a linear classifier
on the first token's (``[CLS]``) final state. Taught in p2-vi.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from book.nn.gpt import Block, GPTConfig
from book.nn.layers import LayerNorm


@dataclass(frozen=True)
class BertConfig:
    """Defaults suit the stories corpus on a CPU.

    BERT-base, for scale: 30522 vocab, 512 positions, 12 layers, 12 heads, 768 wide.
    """

    vocab_size: int = 80
    max_len: int = 64
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 64
    n_classes: int = 2
    dropout: float = 0.0


class EncoderBlock(Block):
    """The GPT's pre-norm block (LayerNorm, GELU MLP) without the causal mask."""

    def __init__(self, cfg: BertConfig):
        super().__init__(GPTConfig(vocab_size=cfg.vocab_size, block_size=cfg.max_len, n_layer=cfg.n_layer,
                                   n_head=cfg.n_head, d_model=cfg.d_model, dropout=cfg.dropout), causal=False)


class Bert(nn.Module):
    """Token + learned position embeddings, ``n_layer`` bidirectional blocks, a final LayerNorm and two heads.

    ``encode(idx)`` gives the final states (B, T, C); ``mlm_head`` (tied to the
    token embedding) predicts masked tokens from them, ``cls_head`` classifies
    a sequence from its first (``[CLS]``) state. No padding mask: the book's
    batches are equal-length (p2-vi exercise 3 builds one).
    """

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.d_model)
        self.blocks = nn.ModuleList(EncoderBlock(cfg) for _ in range(cfg.n_layer))
        self.norm_f = LayerNorm(cfg.d_model)
        self.mlm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.mlm_head.weight = self.tok_emb.weight
        self.cls_head = nn.Linear(cfg.d_model, cfg.n_classes)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def encode(self, idx: torch.Tensor) -> torch.Tensor:
        """Final hidden states (B, T, C) for token ids (B, T)."""
        if idx.dim() != 2 or idx.shape[1] > self.cfg.max_len:
            raise ValueError(f"idx must be (batch, time) with time <= max_len={self.cfg.max_len}, "
                             f"got {tuple(idx.shape)}")
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.norm_f(x)

    def mlm_loss(self, idx: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy at the masked positions (labels −100 elsewhere)."""
        logits = self.mlm_head(self.encode(idx))
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)

    def classify(self, idx: torch.Tensor) -> torch.Tensor:
        """Class logits (B, n_classes) from the first token's final state."""
        return self.cls_head(self.encode(idx)[:, 0])


def mask_tokens(idx: torch.Tensor, mask_id: int, vocab_size: int, p: float = 0.15,
                special: torch.Tensor | None = None, generator: torch.Generator | None = None):
    """BERT's corruption: choose ~p of the (non-special) positions to predict; of those,
    80 % become ``mask_id``, 10 % a random token and 10 % stay. Returns (inputs, labels)."""
    chosen = torch.rand(idx.shape, generator=generator) < p
    if special is not None:
        chosen &= ~special
    labels = torch.where(chosen, idx, torch.full_like(idx, -100))
    roll = torch.rand(idx.shape, generator=generator)
    inputs = idx.clone()
    inputs[chosen & (roll < 0.8)] = mask_id
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[swap] = torch.randint(0, vocab_size, (int(swap.sum()),), generator=generator)
    return inputs, labels
