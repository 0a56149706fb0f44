"""Exercise checkers for p4-10 (LoRA fine-tuning of the GPT).

References: the trainable count of a real :class:`book.nn.gpt.GPT` after
:func:`book.nn.lora.inject_lora`, the weight of :meth:`book.nn.lora.LoRALinear.merged`,
and the size of the first Adam step of a real adapter. Inputs include a
grouped-query GPT, a SwiGLU GPT with a vocabulary of 1,823 words, a 1 × 1
layer and a full-rank adapter.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from book.exercises import passed
from book.nn.gpt import GPT, GPTConfig
from book.nn.lora import LoRALinear, count_parameters, inject_lora

_COUNT_CASES = [
    (GPTConfig(vocab_size=74, block_size=32, n_layer=2, n_head=4, d_model=64), 4,
     ("q_proj", "kv_proj", "out_proj")),
    (GPTConfig(vocab_size=74, block_size=32, n_layer=2, n_head=4, d_model=64), 1,
     ("q_proj", "kv_proj", "out_proj", "up", "down", "head")),
    (GPTConfig(vocab_size=50, block_size=16, n_layer=3, n_head=8, n_kv_head=2, d_model=48), 3,
     ("kv_proj", "head")),                                                    # grouped-query: kv_proj is narrow
    (GPTConfig(vocab_size=1823, block_size=8, n_layer=1, n_head=3, d_model=48, mlp="swiglu"), 7,
     ("gate", "up", "down", "head")),                                         # SwiGLU has a third matrix
]


def _reference_count(cfg: GPTConfig, r: int, targets: tuple[str, ...]) -> int:
    model = GPT(cfg)
    inject_lora(model, r=r, alpha=1.0, targets=targets)
    return count_parameters(model)[0]


def check_lora_count(fn: Callable[[GPTConfig, int, tuple[str, ...]], int]) -> None:
    """``fn(cfg, r, targets)`` -> the trainable parameters of ``GPT(cfg)`` after ``inject_lora(…, r, …, targets)``."""
    for cfg, r, targets in _COUNT_CASES:
        want = _reference_count(cfg, r, targets)
        got = fn(cfg, r, targets)
        if got == want:
            continue
        model = GPT(cfg)
        shapes = [(n, m.in_features, m.out_features) for n, m in model.named_modules()
                  if isinstance(m, nn.Linear) and n.rsplit(".", 1)[-1] in targets]
        full = sum(i * o for _, i, o in shapes)
        one_layer = sum(r * (i + o) for n, i, o in shapes if not n.startswith("blocks.") or n.startswith("blocks.0."))
        if got == full:
            hint = "that is the size of the adapted matrices themselves; an adapter trains r·(d_in + d_out) each"
        elif got == one_layer and cfg.n_layer > 1:
            hint = f"every one of the {cfg.n_layer} blocks has its own adapters"
        elif "kv_proj" in targets and cfg.n_kv_head:
            hint = ("kv_proj maps d_model to 2·n_kv_head·head_dim, which is narrower than 2·d_model under "
                    "grouped-query attention")
        elif "head" in targets:
            hint = "the head maps d_model to vocab_size (it is adapted once, outside the blocks)"
        else:
            hint = "count r·(d_in + d_out) for each adapted nn.Linear"
        raise AssertionError(f"lora count for r={r}, targets={targets}, d_model={cfg.d_model}, n_layer={cfg.n_layer}, "
                             f"vocab={cfg.vocab_size}: got {got:,}, expected {want:,}: {hint}")
    passed(f"LoRA parameter counts equal real adapted GPTs on {len(_COUNT_CASES)} configurations, "
           "grouped-query and SwiGLU included")


def check_merge(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float, int], torch.Tensor]) -> None:
    """``fn(weight, lora_A, lora_B, alpha, r)`` -> the merged (d_out, d_in) weight, leaving ``weight`` unchanged."""
    g = torch.Generator().manual_seed(0)
    cases = [(91, 37, 5, 16.0), (1, 1, 1, 1.0), (64, 128, 64, 8.0), (781, 183, 3, 32.0)]   # (d_in, d_out, r, α)
    for d_in, d_out, r, alpha in cases:
        torch.manual_seed(d_in)
        layer = LoRALinear(nn.Linear(d_in, d_out).double(), r=r, alpha=alpha)
        with torch.no_grad():
            layer.lora_B.copy_(torch.randn(d_out, r, generator=g, dtype=torch.float64))   # as after training
        want = layer.merged().weight.detach()
        W, A, B = (t.detach().clone() for t in (layer.base.weight, layer.lora_A, layer.lora_B))
        got = fn(W, A, B, alpha, r)
        if not torch.equal(W, layer.base.weight.detach()):
            raise AssertionError("your function changed `weight` in place: the frozen base must stay as it was "
                                 "(build a new tensor: weight + …)")
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != (d_out, d_in):
            raise AssertionError(f"expected a ({d_out}, {d_in}) tensor like the weight, got "
                                 f"{tuple(getattr(got, 'shape', ()))}: ΔW = B A is (d_out, r) @ (r, d_in)")
        if torch.allclose(got, want, rtol=1e-10, atol=1e-12):
            continue
        delta = B @ A
        if torch.allclose(got, W + delta, rtol=1e-10, atol=1e-12) and alpha != r:
            hint = "the update is scaled by α/r"
        elif torch.allclose(got, W + alpha * delta, rtol=1e-10, atol=1e-12) and r > 1:
            hint = "the scale is α/r, not α"
        else:
            hint = "W' = W + (α/r)·B A"
        raise AssertionError(f"merged weight differs from LoRALinear.merged() for d_in={d_in}, d_out={d_out}, "
                             f"r={r}, α={alpha:g}: {hint}")
    passed(f"merged weights equal LoRALinear.merged() on {len(cases)} layers (float64), 1 × 1 and full rank included")


def first_step_update(scale: float, r: int, d_in: int = 96, d_out: int = 128, seed: int = 0) -> float:
    """‖ΔW‖_F after one Adam step (lr 1e-3) of a rank-``r`` adapter whose update is multiplied by ``scale``."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    layer = LoRALinear(nn.Linear(d_in, d_out), r=r, alpha=1.0)        # alpha unused: the scale is applied below
    x, target = torch.randn(256, d_in, generator=g), torch.randn(256, d_out, generator=g)
    opt = torch.optim.Adam([layer.lora_A, layer.lora_B], lr=1e-3)
    out = layer.base(x) + scale * (x @ layer.lora_A.T) @ layer.lora_B.T
    ((out - target) ** 2).mean().backward()
    opt.step()
    return float((scale * layer.lora_B @ layer.lora_A).detach().norm())


def check_rank_stable_scaling(fn: Callable[[float, int], float]) -> None:
    """``fn(alpha, r)`` -> a scale with ``fn(alpha, 1) == alpha`` whose first-step update barely depends on r."""
    ranks = (1, 2, 4, 8, 16, 64)
    for alpha in (16.0, 1.0):
        if not math.isclose(fn(alpha, 1), alpha, rel_tol=1e-12):
            raise AssertionError(f"fn({alpha:g}, 1) = {fn(alpha, 1)!r}: at r = 1 every rule should give α itself")
    sizes = [first_step_update(fn(16.0, r), r) for r in ranks]
    spread = max(sizes) / min(sizes)
    if spread > 1.5:
        trend = "shrinks" if sizes[-1] < sizes[0] else "grows"
        raise AssertionError(f"with your scale the first update {trend} with r: ‖ΔW‖ = "
                             + ", ".join(f"{s:.3f} (r={r})" for s, r in zip(sizes, ranks))
                             + f"; a spread of {spread:.1f}×. B's first Adam step has entries ±lr, and B A sums "
                               "r such products with random signs: how does that sum grow with r?")
    passed(f"first-step update sizes within 1.5× of each other for r = {', '.join(map(str, ranks))}")
