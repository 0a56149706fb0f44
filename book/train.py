"""Training language models: batches, a warm-up + cosine schedule and the loop.

:func:`train_lm` has a progress bar, AdamW with decoupled weight decay on
matrices only, a warm-up + cosine learning rate, gradient accumulation,
gradient clipping, optional bf16 autocast, and checkpoints that resume a run
bit for bit (model, optimiser, step, data-order and dropout RNG states, loaded
with ``torch.load(weights_only=True)``). Used in p1-7.1 to train the tiny
GPT; taught in p2-iii, which takes it apart; :mod:`book.distributed` runs it
data-parallel.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

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
    """Everything :func:`train_lm` needs besides the model and the data; defaults fit the tiny GPT on a CPU.

    The learning rate follows :func:`cosine_lr` (``warmup`` steps up to ``lr``,
    then cosine decay to a tenth of it at ``steps``); ``batch_size ×
    accum_steps`` sequences make one optimiser step. For scale, nanoGPT's GPT-2
    (124M) recipe is steps=600_000, batch 12 × accum 40 of 1024 tokens,
    lr=6e-4, warmup=2000, weight_decay=0.1, grad_clip=1.0.
    """

    steps: int = 500
    batch_size: int = 32
    lr: float = 3e-3
    warmup: int = 50
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_every: int = 100
    eval_batches: int = 10
    aux_loss_weight: float = 0.01   # mixture-of-experts load balancing (ignored without MoE)
    accum_steps: int = 1            # micro-batches of `batch_size` per optimiser step
    amp: bool = False               # bf16 autocast for the forward pass (CPU or GPU)
    checkpoint_every: int = 0       # save every N steps when a checkpoint path is given (0: only at the end)
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


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; weight decay on matrices only (not on norms, biases or other 1-D parameters)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95))


def save_checkpoint(path: str | Path, model: nn.Module, opt: torch.optim.Optimizer, step: int,
                    data_rng: torch.Generator, hist: History) -> None:
    """Everything a bit-for-bit resume needs, written atomically (temp file, then rename)."""
    path = Path(path)
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
             "data_rng": data_rng.get_state(), "torch_rng": torch.get_rng_state(),
             "history": {k: list(v) for k, v in vars(hist).items()}}
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path, model: nn.Module, opt: torch.optim.Optimizer,
                    data_rng: torch.Generator) -> tuple[int, History]:
    """Restore a :func:`save_checkpoint` file; ``weights_only=True`` refuses arbitrary pickled code."""
    state = torch.load(path, weights_only=True)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    data_rng.set_state(state["data_rng"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"]), History(**state["history"])


def train_lm(model: nn.Module, train_data: torch.Tensor, cfg: TrainConfig,
             val_data: torch.Tensor | None = None, show_progress: bool = True, desc: str = "train",
             checkpoint: str | Path | None = None, resume: bool = False) -> History:
    """Train a :class:`book.nn.gpt.GPT`-like model (``model(x, y) -> (logits, loss)``).

    Each optimiser step averages the gradients of ``cfg.accum_steps``
    micro-batches, clips them to ``cfg.grad_clip`` in global norm and takes an
    AdamW step at the scheduled learning rate. With ``checkpoint`` the state is
    saved every ``cfg.checkpoint_every`` steps and at the end; ``resume=True``
    continues from that file, so a run that was interrupted (a crash, a
    pre-empted job) picks up from its last checkpoint and ends exactly where the
    uninterrupted run would.
    """
    g = torch.Generator().manual_seed(cfg.seed)
    opt = make_optimizer(model, cfg)
    hist, start = History(), 0
    if resume:
        if checkpoint is None or not Path(checkpoint).is_file():
            raise FileNotFoundError(f"resume=True but no checkpoint at {checkpoint}")
        start, hist = load_checkpoint(checkpoint, model, opt, g)
    end = cfg.steps
    device = next(model.parameters()).device
    model.train()
    steps = range(start, end)
    for step in (progress(steps, desc=desc, initial=start, total=end) if show_progress else steps):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, cfg.steps, cfg.lr, cfg.warmup)
        opt.zero_grad(set_to_none=True)
        step_loss = 0.0
        for _ in range(cfg.accum_steps):
            x, y = lm_batch(train_data, model.cfg.block_size, cfg.batch_size, g)
            x, y = x.to(device), y.to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp):
                _, loss = model(x, y)
                total = loss + cfg.aux_loss_weight * model.aux_loss() if hasattr(model, "aux_loss") else loss
            (total / cfg.accum_steps).backward()
            step_loss += loss.item() / cfg.accum_steps
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        hist.steps.append(step)
        hist.train_loss.append(step_loss)
        if val_data is not None and (step + 1) % cfg.eval_every == 0:
            hist.eval_steps.append(step + 1)
            hist.val_loss.append(evaluate_lm(model, val_data.to(device), cfg.batch_size, cfg.eval_batches))
        if checkpoint is not None and cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0:
            save_checkpoint(checkpoint, model, opt, step + 1, g, hist)
    if checkpoint is not None:
        save_checkpoint(checkpoint, model, opt, end, g, hist)
    return hist
