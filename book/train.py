"""Training language models: batches, a warm-up + cosine schedule and the loop.

Part I §7.1 uses :func:`train_lm` to train the tiny GPT; Part II §III takes
the loop apart (mixed precision, accumulation, checkpoints, data parallelism).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from book.env import progress


def lm_batch(data: torch.Tensor, block_size: int, batch_size: int,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of a 1-D token tensor: inputs (B, T) and next-token targets (B, T)."""
    if data.dim() != 1:
        raise ValueError(f"data must be a 1-D tensor of token ids, got shape {tuple(data.shape)}")
    if len(data) <= block_size:
        raise ValueError(f"data has {len(data)} tokens; need more than block_size={block_size}")
    starts = torch.randint(0, len(data) - block_size, (batch_size,), generator=generator)
    offsets = torch.arange(block_size)
    x = data[starts[:, None] + offsets]
    y = data[starts[:, None] + offsets + 1]
    return x, y


def cosine_lr(step: int, total: int, peak: float, warmup: int = 0, floor: float = 0.1) -> float:
    """Linear warm-up to ``peak`` over ``warmup`` steps, then cosine decay to ``floor · peak`` at ``total``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress_frac = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress_frac)))


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 500
    batch_size: int = 32
    lr: float = 3e-3
    warmup: int = 50
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_every: int = 100
    eval_batches: int = 10
    aux_loss_weight: float = 0.01   # mixture-of-experts load balancing (ignored without MoE)
    seed: int = 0


@dataclass
class History:
    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)


@torch.no_grad()
def evaluate_lm(model: nn.Module, data: torch.Tensor, batch_size: int = 32, batches: int = 10,
                seed: int = 1234) -> float:
    """Mean next-token cross-entropy over ``batches`` fixed random windows of ``data``."""
    was_training = model.training
    model.eval()
    g = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(batches):
        x, y = lm_batch(data, model.cfg.block_size, batch_size, g)
        losses.append(model(x, y)[1].item())
    model.train(was_training)
    return sum(losses) / len(losses)


def train_lm(model: nn.Module, train_data: torch.Tensor, cfg: TrainConfig,
             val_data: torch.Tensor | None = None, show_progress: bool = True, desc: str = "train") -> History:
    """Train a :class:`book.nn.gpt.GPT`-like model (``model(x, y) -> (logits, loss)``) with AdamW.

    Decoupled weight decay applies to matrices only (not to norms, biases or
    embeddings' 1-D parameters); the learning rate follows :func:`cosine_lr`;
    gradients are clipped to ``cfg.grad_clip`` in global norm.
    """
    g = torch.Generator().manual_seed(cfg.seed)
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95))
    hist = History()
    model.train()
    steps = range(cfg.steps)
    for step in (progress(steps, desc=desc) if show_progress else steps):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, cfg.steps, cfg.lr, cfg.warmup)
        x, y = lm_batch(train_data, model.cfg.block_size, cfg.batch_size, g)
        _, loss = model(x, y)
        total = loss + cfg.aux_loss_weight * model.aux_loss() if hasattr(model, "aux_loss") else loss
        opt.zero_grad(set_to_none=True)
        total.backward()
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        hist.steps.append(step)
        hist.train_loss.append(loss.item())
        if val_data is not None and (step + 1) % cfg.eval_every == 0:
            hist.eval_steps.append(step + 1)
            hist.val_loss.append(evaluate_lm(model, val_data, cfg.batch_size, cfg.eval_batches))
    return hist
