"""A small vision transformer (ViT) for the 8×8 digits, and the contrastive loss of CLIP.

An image is cut into non-overlapping ``patch``×``patch`` squares; each square,
flattened, is one token. A linear map embeds the tokens (the same map as a
convolution whose kernel and stride are the patch size), a learned ``[CLS]``
token is put in front, learned position embeddings are added, and the
sequence goes through the book's bidirectional transformer blocks
(:class:`book.nn.gpt.Block` with ``causal=False``). The class logits come
from the final ``[CLS]`` state or from the mean of the patch states. Taught
in p3-vi (patches in p3-vi-patches, the model in p3-vi-model, the contrastive
loss in p3-vi-clip).

    >>> model = ViT(ViTConfig())
    >>> model(torch.zeros(5, 1, 8, 8)).shape
    torch.Size([5, 10])
    >>> patchify(torch.arange(16.).view(1, 1, 4, 4), 2)[0, 1].tolist()   # the top-right 2×2 patch
    [2.0, 3.0, 6.0, 7.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from book.nn.gpt import Block, GPTConfig
from book.nn.layers import LayerNorm


@dataclass(frozen=True)
class ViTConfig:
    """Sizes of a ViT. Defaults: about 27k parameters, 16 patches of 2×2 pixels on an 8×8 image.

    ViT-Base/16 of Dosovitskiy et al., for scale: image=224, patch=16,
    channels=3, d_model=768, n_layer=12, n_head=12 (86M parameters).
    """

    image: int = 8
    patch: int = 2
    channels: int = 1
    d_model: int = 32
    n_layer: int = 2
    n_head: int = 4
    n_classes: int = 10
    pool: str = "cls"               # or "mean": average the patch states
    positions: bool = True          # False: no position embeddings (the model sees a bag of patches)
    dropout: float = 0.0

    def __post_init__(self):
        if self.image % self.patch:
            raise ValueError(f"image size {self.image} is not divisible by patch size {self.patch}")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model={self.d_model} must be divisible by n_head={self.n_head}")
        if self.pool not in ("cls", "mean"):
            raise ValueError(f"pool must be 'cls' or 'mean', got {self.pool!r}")

    @property
    def n_patches(self) -> int:
        return (self.image // self.patch) ** 2

    @property
    def patch_dim(self) -> int:
        return self.channels * self.patch * self.patch


def _as_nchw(images: torch.Tensor) -> torch.Tensor:
    if images.dim() == 3:                      # (N, H, W): one channel
        images = images.unsqueeze(1)
    if images.dim() != 4:
        raise ValueError(f"images must be (N, C, H, W) or (N, H, W), got shape {tuple(images.shape)}")
    return images


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """Cut images (N, C, H, W) (or (N, H, W)) into patches: (N, (H/p)·(W/p), C·p·p).

    Patches are numbered row by row (left to right, then top to bottom); each
    is flattened channel-first, then by row, then by column, the layout of a
    ``Conv2d`` weight (out, C, p, p), so ``patchify(x) @ W.view(out, -1).T``
    is the convolution with stride p.
    """
    images = _as_nchw(images)
    n, c, h, w = images.shape
    if patch < 1:
        raise ValueError(f"patch must be >= 1, got {patch}")
    if h % patch or w % patch:
        raise ValueError(f"image size {h}×{w} is not divisible by patch size {patch}")
    x = images.reshape(n, c, h // patch, patch, w // patch, patch)      # (N, C, H/p, p, W/p, p)
    x = x.permute(0, 2, 4, 1, 3, 5)                                     # (N, H/p, W/p, C, p, p)
    return x.reshape(n, (h // patch) * (w // patch), c * patch * patch)


def unpatchify(patches: torch.Tensor, patch: int, channels: int = 1) -> torch.Tensor:
    """The inverse of :func:`patchify` for square images: (N, T, C·p·p) → (N, C, H, W)."""
    if patches.dim() != 3:
        raise ValueError(f"patches must be (N, T, C·p·p), got shape {tuple(patches.shape)}")
    n, t, d = patches.shape
    side = math.isqrt(t)
    if side * side != t:
        raise ValueError(f"{t} patches do not tile a square image")
    if d != channels * patch * patch:
        raise ValueError(f"patch vectors of length {d} do not fit channels={channels}, patch={patch}")
    x = patches.reshape(n, side, side, channels, patch, patch).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(n, channels, side * patch, side * patch)


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """The symmetric InfoNCE (CLIP) loss of paired embeddings a, b (..., B, D): row i of a belongs with row i of b.

    Both are L2-normalised; the similarity logits ``a @ b.T / temperature``
    (..., B, B) are scored by a cross-entropy over each row (a → b) and each
    column (b → a), with the diagonal as the target, and the two are averaged.
    Leading dimensions are independent groups (each its own set of negatives).
    """
    if a.shape != b.shape or a.dim() < 2:
        raise ValueError(f"a and b must have the same shape (..., B, D), got {tuple(a.shape)} and {tuple(b.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    logits = a @ b.transpose(-2, -1) / temperature                          # (..., B, B)
    n = a.shape[-2]
    target = torch.arange(n, device=a.device).expand(logits.shape[:-1]).reshape(-1)
    rows = F.cross_entropy(logits.reshape(-1, n), target)
    cols = F.cross_entropy(logits.transpose(-2, -1).reshape(-1, n), target)
    return (rows + cols) / 2


class ViT(nn.Module):
    """Patch embedding → [CLS] + position embeddings → ``n_layer`` bidirectional blocks → LayerNorm → head.

    ``model(images)`` gives logits (N, n_classes) for images (N, C, H, W);
    ``features`` the pooled final state (N, d_model); ``attention_maps`` the
    attention weights of every layer. Shapes: N images, T = n_patches, C = d_model.
    """

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        t = cfg.n_patches
        self.patch_embed = nn.Linear(cfg.patch_dim, cfg.d_model)
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.d_model))
        self.pos_emb = nn.Parameter(torch.zeros(1, t + 1, cfg.d_model)) if cfg.positions else None
        block_cfg = GPTConfig(vocab_size=1, block_size=t + 1, n_layer=cfg.n_layer, n_head=cfg.n_head,
                              d_model=cfg.d_model, dropout=cfg.dropout)
        self.blocks = nn.ModuleList(Block(block_cfg, causal=False) for _ in range(cfg.n_layer))
        self.norm_f = LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.n_classes)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.normal_(self.cls, 0.0, 0.02)
        if self.pos_emb is not None:
            nn.init.normal_(self.pos_emb, 0.0, 0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """The input sequence of the first block: [CLS] then the embedded patches, positions added: (N, T+1, C)."""
        images = _as_nchw(images)
        want = (self.cfg.channels, self.cfg.image, self.cfg.image)
        if tuple(images.shape[1:]) != want:
            raise ValueError(f"images must be (N, {want[0]}, {want[1]}, {want[2]}), got {tuple(images.shape)}")
        x = self.patch_embed(patchify(images, self.cfg.patch))                 # (N, T, C)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)         # (N, T+1, C)
        return x if self.pos_emb is None else x + self.pos_emb

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Final (normalised) states of [CLS] and every patch: (N, T+1, C)."""
        x = self.embed(images)
        for block in self.blocks:
            x = block(x)
        return self.norm_f(x)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The pooled state (N, C): the [CLS] state, or the mean over the patch states."""
        h = self.encode(images)
        return h[:, 0] if self.cfg.pool == "cls" else h[:, 1:].mean(1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))                                # (N, n_classes)

    @torch.no_grad()
    def attention_maps(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Per layer, the attention weights (N, H, T+1, T+1); query/key 0 is [CLS], then the patches row by row.

        :class:`~book.nn.attention.MultiHeadAttention` returns only its output,
        so the weights are recomputed from each block's own projections of its
        normalised input: softmax(q kᵀ/√D), the weights that block applies.
        """
        x = self.embed(images)
        maps = []
        for block in self.blocks:
            attn = block.attn
            h = block.norm1(x)
            n, t, c = h.shape
            q = attn.q_proj(h).view(n, t, attn.n_head, attn.head_dim).transpose(1, 2)        # (N, H, T+1, D)
            k = attn.kv_proj(h).view(n, t, 2, attn.n_kv_head, attn.head_dim)[:, :, 0].transpose(1, 2)
            maps.append(torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(attn.head_dim), dim=-1))
            x = block(x)
        return maps

    def patch_embedding_as_conv(self) -> nn.Conv2d:
        """The patch embedding as the ``Conv2d`` it equals (kernel = stride = patch), sharing no storage."""
        cfg = self.cfg
        conv = nn.Conv2d(cfg.channels, cfg.d_model, cfg.patch, stride=cfg.patch)
        with torch.no_grad():
            conv.weight.copy_(self.patch_embed.weight.view(cfg.d_model, cfg.channels, cfg.patch, cfg.patch))
            conv.bias.copy_(self.patch_embed.bias)
        return conv.to(self.patch_embed.weight.device)


__all__ = ["ViTConfig", "ViT", "patchify", "unpatchify", "info_nce"]
