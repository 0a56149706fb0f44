"""LoRA: low-rank adapters on a frozen model, and merging them back.

A frozen linear map W (out × in) gets a trainable low-rank update::

    h = W x + (α / r) · B A x,      A: (r, in),  B: (out, r),  r ≪ min(in, out)

A starts random (Kaiming-uniform, as in PEFT) and B at zero, so at step 0 the
adapted model *is* the base model; only A and B are trained, r · (in + out)
numbers per layer instead of in · out. After training, ``merge_lora`` folds
W + (α/r) B A into one plain ``nn.Linear``: the same outputs, no extra cost at
inference. The base may be any module mapping (…, in) → (…, out) with
``in_features``/``out_features`` (a quantised linear layer, say: that is QLoRA's
setting). Hu et al. (2022) introduced LoRA; ``peft.LoraConfig(r=r,
lora_alpha=α, lora_dropout=0)`` computes the same function. Taught in p3-ii
(merging in p3-ii-merge, QLoRA in p3-ii-qlora).

>>> import torch
>>> base = nn.Linear(6, 4)
>>> lora = LoRALinear(base, r=2, alpha=4.0)
>>> x = torch.randn(3, 6)
>>> bool(torch.equal(lora(x), base(x)))          # B = 0: the base model at step 0
True
>>> lora.num_trainable()                          # 2·6 + 4·2
20
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn
from torch.nn import functional as F


class LoRALinear(nn.Module):
    """``base(x) + (alpha / r) · dropout(x) Aᵀ Bᵀ`` with ``base`` frozen; A (r, in), B (out, r)."""

    def __init__(self, base: nn.Module, r: int, alpha: float, dropout: float = 0.0):
        super().__init__()
        for attr in ("in_features", "out_features"):
            if not isinstance(getattr(base, attr, None), int):
                raise TypeError(f"LoRALinear needs a base with an integer `{attr}` (an nn.Linear or alike), "
                                f"got {type(base).__name__}")
        if not isinstance(r, int) or r < 1:
            raise ValueError(f"rank r must be a positive int, got {r!r}")
        if r > min(base.in_features, base.out_features):
            raise ValueError(f"rank r={r} exceeds min(in_features={base.in_features}, "
                             f"out_features={base.out_features}): the update would not be low-rank")
        if not math.isfinite(alpha) or alpha <= 0:
            raise ValueError(f"alpha must be a positive finite number, got {alpha!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.base, self.r, self.alpha = base, r, float(alpha)
        self.in_features, self.out_features = base.in_features, base.out_features
        for p in base.parameters():
            p.requires_grad_(False)
        ref = next(base.parameters(), None)
        kw = {"dtype": ref.dtype, "device": ref.device} if ref is not None and ref.is_floating_point() else {}
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, **kw))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, **kw))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))     # PEFT's default initialisation
        self.dropout = nn.Dropout(dropout)

    @property
    def scaling(self) -> float:
        """α / r: the update's scale, so that changing r need not change the learning rate."""
        return self.alpha / self.r

    def delta_weight(self) -> torch.Tensor:
        """The update (α/r) · B A, shape (out, in)."""
        return self.scaling * (self.lora_B @ self.lora_A)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scaling * F.linear(F.linear(self.dropout(x), self.lora_A), self.lora_B)

    def num_trainable(self) -> int:
        return self.lora_A.numel() + self.lora_B.numel()

    def merged(self) -> nn.Linear:
        """A plain ``nn.Linear`` with weight W + (α/r) B A (needs an ``nn.Linear`` base)."""
        if not isinstance(self.base, nn.Linear):
            raise TypeError(f"only an nn.Linear base can be merged into a weight; this base is "
                            f"{type(self.base).__name__} (dequantise it first)")
        out = nn.Linear(self.in_features, self.out_features, bias=self.base.bias is not None,
                        device=self.base.weight.device, dtype=self.base.weight.dtype)
        with torch.no_grad():
            out.weight.copy_(self.base.weight + self.delta_weight())
            if self.base.bias is not None:
                out.bias.copy_(self.base.bias)
        return out

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha:g}, in={self.in_features}, out={self.out_features}"


DEFAULT_TARGETS = ("q_proj", "kv_proj", "out_proj")   # the attention projections of book.nn.attention


def inject_lora(model: nn.Module, r: int, alpha: float, targets: Iterable[str] = DEFAULT_TARGETS,
                dropout: float = 0.0) -> list[str]:
    """Freeze ``model`` and wrap every ``nn.Linear`` whose name ends in one of ``targets`` with LoRA.

    Works in place and returns the qualified names of the wrapped layers (as
    PEFT's ``target_modules`` matches them: by the last component of the name).
    Raises if no layer matches, so a typo in ``targets`` cannot silently train
    nothing.
    """
    targets = tuple(targets)
    for p in model.parameters():
        p.requires_grad_(False)
    wrapped = []
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if child_name in targets and isinstance(child, nn.Linear):
                setattr(module, child_name, LoRALinear(child, r, alpha, dropout))
                wrapped.append(f"{name}.{child_name}" if name else child_name)
    if not wrapped:
        linears = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)})
        raise ValueError(f"no nn.Linear named any of {list(targets)} in {type(model).__name__}; "
                         f"its linear layers are named {linears}")
    return wrapped


def merge_lora(model: nn.Module) -> int:
    """Replace every :class:`LoRALinear` in ``model`` by its merged ``nn.Linear``, in place; returns how many."""
    count = 0
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, LoRALinear):
                setattr(module, child_name, child.merged())
                count += 1
    return count


def lora_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The adapters' A and B matrices: what an optimiser should train."""
    return [p for m in model.modules() if isinstance(m, LoRALinear) for p in (m.lora_A, m.lora_B)]


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts, each shared tensor counted once."""
    seen, trainable, total = set(), 0, 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return trainable, total
