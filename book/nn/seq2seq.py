"""A transformer encoder–decoder on torch's ``nn.Transformer``, and the digit-sorting task it learns.

The model of the cookbook's fifth recipe (taught in p4-5): token embeddings
scaled by √d, sinusoidal positions, ``nn.Transformer`` (pre-norm,
``batch_first``) with padding masks on the source and the target and a causal
mask on the target, and a linear head. :meth:`Seq2SeqTransformer.greedy_decode`
generates a target from ``bos`` until ``eos``.

The task (:func:`sorting_task`): a source of 1 to ``max_len`` random digits,
a target of the same digits sorted. Token ids: ``PAD = 0``, ``BOS = 1``,
``EOS = 2``, the digit d is ``d + 3``.

    >>> src, tgt = sorting_task(2, 3, 3, seed=0)
    >>> [decode_digits(s) for s in src], [decode_digits(t) for t in tgt]
    (['303', '973'], ['033', '379'])
    >>> model = Seq2SeqTransformer(Seq2SeqConfig())
    >>> model(src, shift_right(tgt)).shape           # (batch, target length + 1, vocabulary)
    torch.Size([2, 4, 13])
    >>> model.greedy_decode(src, max_new_tokens=4).shape
    torch.Size([2, 4])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from book.nn.layers import sinusoidal_positions

PAD, BOS, EOS = 0, 1, 2
DIGIT0 = 3                       # token id of the digit 0
VOCAB_SIZE = DIGIT0 + 10


def sorting_task(n: int, min_len: int, max_len: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` (source, target) pairs: sources of ``min_len``..``max_len`` random digits, targets sorted.

    Both are (n, max_len) int64, right-padded with ``PAD``; neither holds BOS
    or EOS (:func:`shift_right` and :func:`append_eos` add them for training).
    """
    if n < 1 or not 1 <= min_len <= max_len:
        raise ValueError(f"sorting_task: need n >= 1 and 1 <= min_len <= max_len, got n={n}, "
                         f"min_len={min_len}, max_len={max_len}")
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(min_len, max_len + 1, (n,), generator=g)
    digits = torch.randint(0, 10, (n, max_len), generator=g) + DIGIT0
    keep = torch.arange(max_len) < lengths[:, None]                     # (n, max_len)
    src = torch.where(keep, digits, PAD)
    # PAD sorts last if it is given a key above every digit.
    tgt = torch.where(keep, digits, VOCAB_SIZE).sort(dim=1).values
    return src, torch.where(tgt == VOCAB_SIZE, PAD, tgt)


def decode_digits(tokens: torch.Tensor) -> str:
    """The digits of a 1-D token sequence as a string, read up to the first EOS; PAD and BOS are skipped."""
    out = []
    for t in tokens.tolist():
        if t == EOS:
            break
        if t >= DIGIT0:
            out.append(str(t - DIGIT0))
    return "".join(out)


def append_eos(tgt: torch.Tensor) -> torch.Tensor:
    """(B, T) right-padded targets -> (B, T + 1) with EOS after the last real token: the training labels."""
    lengths = (tgt != PAD).sum(1)
    out = torch.cat([tgt, torch.full_like(tgt[:, :1], PAD)], dim=1)
    out[torch.arange(len(tgt)), lengths] = EOS
    return out


def shift_right(tgt: torch.Tensor) -> torch.Tensor:
    """(B, T) right-padded targets -> (B, T + 1) decoder inputs [BOS, y_1, …, y_T] (teacher forcing)."""
    return torch.cat([torch.full_like(tgt[:, :1], BOS), tgt], dim=1)


@dataclass(frozen=True)
class Seq2SeqConfig:
    """Sizes of the encoder–decoder. The base model of Vaswani et al. is d_model=512, n_head=8,
    6 + 6 layers, d_ff=2048, dropout 0.1."""

    vocab_size: int = VOCAB_SIZE          # shared by source and target
    d_model: int = 64
    n_head: int = 4
    n_encoder_layers: int = 2
    n_decoder_layers: int = 2
    d_ff: int = 128
    dropout: float = 0.0
    max_len: int = 32                     # longest source, and longest decoder input, the model accepts
    pad_id: int = PAD
    bos_id: int = BOS
    eos_id: int = EOS

    def __post_init__(self):
        if self.d_model % self.n_head or self.d_model % 2:
            raise ValueError(f"Seq2SeqConfig: d_model={self.d_model} must be even and divisible by "
                             f"n_head={self.n_head}")
        if min(self.n_encoder_layers, self.n_decoder_layers, self.d_ff, self.max_len) < 1:
            raise ValueError("Seq2SeqConfig: layer counts, d_ff and max_len must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"Seq2SeqConfig: dropout must be in [0, 1), got {self.dropout}")
        specials = (self.pad_id, self.bos_id, self.eos_id)
        if len(set(specials)) < 3 or not all(0 <= s < self.vocab_size for s in specials):
            raise ValueError(f"Seq2SeqConfig: pad, bos and eos ids {specials} must be distinct and in "
                             f"[0, {self.vocab_size})")


class Seq2SeqTransformer(nn.Module):
    """Embeddings + sinusoidal positions → ``nn.Transformer`` (pre-norm) → linear head: logits (B, T, V)."""

    def __init__(self, cfg: Seq2SeqConfig):
        super().__init__()
        self.cfg = cfg
        self.src_embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.tgt_embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.register_buffer("pe", sinusoidal_positions(cfg.max_len, cfg.d_model), persistent=False)
        # nn.Transformer would build this encoder itself, with nested tensors on, which pre-norm layers
        # cannot use (it warns); building it here with them off gives the same layers, silently.
        layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.n_head, cfg.d_ff, cfg.dropout,
                                           batch_first=True, norm_first=True)
        encoder = nn.TransformerEncoder(layer, cfg.n_encoder_layers, nn.LayerNorm(cfg.d_model),
                                        enable_nested_tensor=False)
        self.transformer = nn.Transformer(cfg.d_model, cfg.n_head, custom_encoder=encoder,
                                          num_decoder_layers=cfg.n_decoder_layers, dim_feedforward=cfg.d_ff,
                                          dropout=cfg.dropout, batch_first=True, norm_first=True)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size)

    def _check(self, name: str, tokens: torch.Tensor) -> None:
        if tokens.dim() != 2 or tokens.dtype != torch.long:
            raise ValueError(f"{name} must be a (batch, length) int64 tensor of token ids, got "
                             f"{tokens.dtype} of shape {tuple(tokens.shape)}")
        if tokens.shape[1] > self.cfg.max_len:
            raise ValueError(f"{name} has length {tokens.shape[1]}, beyond max_len={self.cfg.max_len}")
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.cfg.vocab_size):
            bad = tokens[(tokens < 0) | (tokens >= self.cfg.vocab_size)][0].item()
            raise ValueError(f"{name} holds token id {bad}, outside the vocabulary [0, {self.cfg.vocab_size})")

    def _embed(self, table: nn.Embedding, tokens: torch.Tensor) -> torch.Tensor:
        # √d scaling keeps the embeddings comparable in size to the unit-amplitude positions.
        return table(tokens) * math.sqrt(self.cfg.d_model) + self.pe[: tokens.shape[1]].to(table.weight.dtype)

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, S) source ids -> memory (B, S, d_model) and its padding mask (B, S), True at PAD."""
        self._check("src", src)
        if src.shape[1] == 0 or (src != self.cfg.pad_id).sum(1).min() == 0:
            raise ValueError("src: every source needs at least one non-PAD token")
        src_pad = src == self.cfg.pad_id
        memory = self.transformer.encoder(self._embed(self.src_embed, src), src_key_padding_mask=src_pad)
        return memory, src_pad

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor, src_pad: torch.Tensor) -> torch.Tensor:
        """(B, T) decoder inputs starting with BOS, the encoder's memory -> logits (B, T, vocab_size)."""
        self._check("tgt_in", tgt_in)
        if tgt_in.shape[0] != memory.shape[0]:
            raise ValueError(f"tgt_in has batch {tgt_in.shape[0]} but the memory has {memory.shape[0]}")
        T = tgt_in.shape[1]
        causal = torch.ones(T, T, dtype=torch.bool, device=tgt_in.device).triu(1)   # True: may not look
        h = self.transformer.decoder(self._embed(self.tgt_embed, tgt_in), memory, tgt_mask=causal,
                                     tgt_key_padding_mask=tgt_in == self.cfg.pad_id,
                                     memory_key_padding_mask=src_pad)
        return self.head(h)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, T, vocab_size) for sources ``src`` (B, S) and decoder inputs ``tgt_in`` (B, T)."""
        self._check("src", src)
        self._check("tgt_in", tgt_in)
        if src.shape[0] != tgt_in.shape[0]:
            raise ValueError(f"src has batch {src.shape[0]} but tgt_in has {tgt_in.shape[0]}")
        memory, src_pad = self.encode(src)
        return self.decode(tgt_in, memory, src_pad)

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
        """Most likely next token, one at a time from BOS: (B, max_new_tokens) ids, PAD after each EOS."""
        if not 1 <= max_new_tokens < self.cfg.max_len:
            raise ValueError(f"max_new_tokens must be in [1, max_len={self.cfg.max_len}), got {max_new_tokens}")
        memory, src_pad = self.encode(src)
        out = torch.full((src.shape[0], 1), self.cfg.bos_id, dtype=torch.long, device=src.device)
        done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
        for _ in range(max_new_tokens):
            nxt = self.decode(out, memory, src_pad)[:, -1].argmax(-1)
            nxt = torch.where(done, self.cfg.pad_id, nxt)
            out = torch.cat([out, nxt[:, None]], dim=1)
            done |= nxt == self.cfg.eos_id
            if done.all():
                break
        out = out[:, 1:]
        return torch.cat([out, out.new_full((len(out), max_new_tokens - out.shape[1]), self.cfg.pad_id)], dim=1)
