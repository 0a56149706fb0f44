"""Exercise checkers for p3-ii (LoRA).

* :func:`check_lora_grads`: the hand-derived gradients of a LoRA layer with
  respect to A and B (exercise 1), against autograd in float64, the zero
  initialisations included.
* :func:`check_swap_adapter`: replacing one merged adapter by another in place
  (exercise 2).
* :func:`check_largest_model`: the memory arithmetic of fine-tuning turned
  around, the largest model a memory budget holds (exercise 3).
* :func:`check_nf4`: QLoRA's 4-bit NormalFloat levels, block-wise quantiser and
  dequantiser (exercise 4), against :func:`nf4_levels_reference` and
  :func:`nf4_quantize_reference`, which follow the construction of Dettmers et
  al. (2023) and bitsandbytes' ``create_normal_map``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from book.checks import assert_close
from book.exercises import passed, with_hint
from book.nn.lora import LoRALinear

# ---------------------------------------------------------------- ex-p3-ii-1


def _autograd_lora_grads(x: torch.Tensor, A: torch.Tensor, B: torch.Tensor, grad_h: torch.Tensor,
                         scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    A_, B_ = A.clone().requires_grad_(), B.clone().requires_grad_()
    h = scale * (x @ A_.T) @ B_.T                        # the frozen W x adds nothing to these gradients
    dA, dB = torch.autograd.grad(h, (A_, B_), grad_h)
    return dA, dB


def check_lora_grads(fn: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> None:
    """``fn(x, A, B, grad_h, scale)`` -> ``(dA, dB)``: ∂L/∂A and ∂L/∂B of h = W x + scale · B A x.

    x is (..., d_in), A (r, d_in), B (d_out, r), grad_h = ∂L/∂h (..., d_out).
    Checked against autograd in float64 with random A and B, with B = 0 (LoRA's
    initialisation), A = 0, both zero, one row, and a 3-D batch.
    """
    g = torch.Generator().manual_seed(21)

    def rnd(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    cases = [  # (description, leading shape of x, d_in, d_out, r, zero A, zero B, scale)
        ("random A and B", (6,), 7, 5, 3, False, False, 2.0),
        ("B = 0", (4,), 9, 4, 2, False, True, 8.0),
        ("A = 0", (4,), 9, 4, 2, True, False, 0.5),
        ("A = B = 0", (3,), 5, 6, 1, True, True, 1.0),
        ("one row", (1,), 3, 2, 1, False, False, 3.0),
        ("batch of sequences", (2, 3), 8, 6, 4, False, False, 0.25),
    ]
    for what, lead, d_in, d_out, r, zero_a, zero_b, scale in cases:
        x, grad_h = rnd(*lead, d_in), rnd(*lead, d_out)
        A = torch.zeros(r, d_in, dtype=torch.float64) if zero_a else rnd(r, d_in)
        B = torch.zeros(d_out, r, dtype=torch.float64) if zero_b else rnd(d_out, r)
        got = fn(x.clone(), A.clone(), B.clone(), grad_h.clone(), scale)
        assert isinstance(got, tuple) and len(got) == 2, "return the pair (dA, dB)"
        dA, dB = got
        want_a, want_b = _autograd_lora_grads(x, A, B, grad_h, scale)
        assert tuple(dA.shape) == (r, d_in) and tuple(dB.shape) == (d_out, r), (
            f"dA must have A's shape {(r, d_in)} and dB B's shape {(d_out, r)}; "
            f"got {tuple(dA.shape)} and {tuple(dB.shape)}")
        hint = ("with u = A x (the rank-r code of x), h = W x + s·B u; so ∂L/∂B = s · Σ_rows grad_h ⊗ u and "
                "∂L/∂A = s · Σ_rows (Bᵀ grad_h) ⊗ x; flatten the leading axes of x and grad_h first")
        with_hint(lambda: assert_close(dB, want_b, rtol=1e-10, atol=1e-12, name=f"dB ({what})"), hint)
        with_hint(lambda: assert_close(dA, want_a, rtol=1e-10, atol=1e-12, name=f"dA ({what})"), hint)
    passed("dA and dB = autograd on 6 cases (B = 0, A = 0, both zero, one row and a 3-D batch included)")


# ---------------------------------------------------------------- ex-p3-ii-2


def check_swap_adapter(fn: Callable[[nn.Linear, LoRALinear, LoRALinear], None]) -> None:
    """``fn(layer, old, new)`` turns a layer merged with ``old`` into one merged with ``new``, in place.

    ``layer`` is an ``nn.Linear`` whose weight is W + ΔW_old (``old.merged()``);
    ``old`` and ``new`` are :class:`~book.nn.lora.LoRALinear` adapters of the
    same base W. Afterwards ``layer.weight`` must equal ``new.merged().weight``,
    be the same tensor as before (no reallocation), and the bias must be
    untouched. An adapter of another shape must raise ``ValueError`` naming both shapes.
    """
    g = torch.Generator().manual_seed(22)
    for d_in, d_out, r_old, r_new, dtype, tol in [(12, 7, 2, 3, torch.float64, 1e-12),
                                                  (64, 256, 4, 1, torch.float32, 1e-5),
                                                  (5, 5, 5, 2, torch.float64, 1e-12)]:
        base = nn.Linear(d_in, d_out, dtype=dtype)
        old, new = LoRALinear(base, r_old, alpha=2.0 * r_old), LoRALinear(base, r_new, alpha=16.0)
        with torch.no_grad():
            for ad in (old, new):
                ad.lora_A.copy_(torch.randn(ad.lora_A.shape, generator=g, dtype=dtype))
                ad.lora_B.copy_(torch.randn(ad.lora_B.shape, generator=g, dtype=dtype) * 0.1)
        layer = old.merged()
        weight, bias = layer.weight, layer.bias.detach().clone()
        ptr = weight.data_ptr()
        result = fn(layer, old, new)
        assert result is None or result is layer, "modify `layer` in place (return nothing, or the layer itself)"
        assert layer.weight is weight and layer.weight.data_ptr() == ptr, (
            "layer.weight was replaced by a new tensor; update it in place (inside torch.no_grad(), "
            "weight.add_(...) or weight.copy_(...)), so that a model holding the layer sees the change")
        with_hint(lambda: assert_close(layer.weight, new.merged().weight, rtol=tol, atol=tol,
                                       name=f"swapped weight ({d_out}×{d_in}, {dtype})"),
                  "W + ΔW_old − ΔW_old + ΔW_new: subtract old.delta_weight() and add new.delta_weight()")
        assert torch.equal(layer.bias, bias), "the bias is not part of any adapter: leave it unchanged"
    base = nn.Linear(6, 4, dtype=torch.float64)
    layer = LoRALinear(base, 2, alpha=2.0).merged()
    wrong = LoRALinear(nn.Linear(6, 5, dtype=torch.float64), 2, alpha=2.0)
    try:
        fn(layer, LoRALinear(base, 2, alpha=2.0), wrong)
    except ValueError as e:
        assert "4" in str(e) and "5" in str(e), f"the error must name both shapes, got: {e}"
    except Exception as e:
        raise AssertionError(f"an adapter of the wrong shape must raise ValueError naming both shapes, "
                             f"not {type(e).__name__}: {e}") from None
    else:
        raise AssertionError("an adapter of shape 5×6 applied to a 4×6 layer must raise ValueError naming both shapes")
    passed("swap = new.merged() on 3 layers (float32 and float64), in place, bias untouched; a wrong shape is refused")


# ---------------------------------------------------------------- ex-p3-ii-3


def largest_model_reference(memory_gb: float, bits_per_frozen_weight: float, trainable_fraction: float,
                            bytes_per_trainable: float = 16.0, overhead_gb: float = 0.0) -> int:
    """Largest N with N·bits/8 + N·fraction·bytes_per_trainable + overhead ≤ memory (GB = 1e9 bytes)."""
    for name, value in [("memory_gb", memory_gb), ("bits_per_frozen_weight", bits_per_frozen_weight),
                        ("trainable_fraction", trainable_fraction), ("bytes_per_trainable", bytes_per_trainable),
                        ("overhead_gb", overhead_gb)]:
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    per_param = bits_per_frozen_weight / 8 + trainable_fraction * bytes_per_trainable
    if per_param <= 0:
        raise ValueError("every parameter costs 0 bytes: give bits_per_frozen_weight or a trainable_fraction > 0")
    free = (memory_gb - overhead_gb) * 1e9
    return max(0, math.floor(free / per_param))


def check_largest_model(fn: Callable[..., int]) -> None:
    """``fn(memory_gb, bits_per_frozen_weight, trainable_fraction, bytes_per_trainable=16, overhead_gb=0)``.

    Returns the largest parameter count N (an int, rounded down) whose frozen
    weights and trainable state fit; 0 when the overhead alone exceeds the
    memory; a negative or non-finite argument raises ``ValueError`` naming it.
    """
    cases = [((80, 0, 1.0), {}),                                 # full fine-tuning: every parameter trains
             ((24, 4.127, 0.0237), {}),                          # QLoRA, r = 64 on every linear layer
             ((24, 16, 0.0237), {"overhead_gb": 4.0}),           # LoRA on a bf16 base with 4 GB of activations
             ((48, 4.5, 0.001), {"bytes_per_trainable": 12}),
             ((10, 16, 0.0), {"overhead_gb": 12.0}),             # the overhead alone does not fit
             ((1e-9, 8, 0.0), {})]                               # exactly one byte: one 8-bit weight
    for args, kwargs in cases:
        want = largest_model_reference(*args, **kwargs)
        got = fn(*args, **kwargs)
        assert isinstance(got, int) and not isinstance(got, bool), (
            f"return an int (a parameter count, rounded down), got {type(got).__name__}")
        call = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
        with_hint(lambda: _equal(got, want, f"fn({call})"),
                  "bytes per parameter = bits/8 for its frozen copy + fraction × bytes_per_trainable; "
                  "N = floor((memory − overhead)·1e9 / that), and never below 0")
    for name, args, kwargs in [("memory_gb", (-1, 4, 0.01), {}), ("trainable_fraction", (24, 4, float("nan")), {}),
                               ("overhead_gb", (24, 4, 0.01), {"overhead_gb": -2})]:
        try:
            fn(*args, **kwargs)
        except ValueError as e:
            assert name in str(e), f"the ValueError must name the argument {name!r}, got: {e}"
        else:
            raise AssertionError(f"a negative or non-finite {name} must raise ValueError naming it")
    passed("largest_model = the reference on 6 budgets (full, LoRA, QLoRA; overhead too large; one byte) "
           "and refuses bad arguments by name")


def _equal(got: int, want: int, what: str) -> None:
    assert got == want, f"{what} returned {got:,}, expected {want:,}"


# ---------------------------------------------------------------- ex-p3-ii-4

NF4_OFFSET = 0.5 * ((1 - 1 / (2 * 15)) + (1 - 1 / (2 * 16)))   # 0.9677…: Dettmers et al.'s choice


def nf4_levels_reference() -> torch.Tensor:
    """The 16 NF4 values, sorted, in [−1, 1], float32.

    8 positive levels are standard-normal quantiles at probabilities evenly
    spaced from the offset δ ≈ 0.9677 down to ½ (½ excluded), 7 negative ones
    the mirrored quantiles at 7 such probabilities, plus an exact 0; all are
    divided by the largest, so the ends are exactly ±1.
    """
    ndtri = torch.special.ndtri
    pos = ndtri(torch.linspace(NF4_OFFSET, 0.5, 9, dtype=torch.float64)[:-1])
    neg = -ndtri(torch.linspace(NF4_OFFSET, 0.5, 8, dtype=torch.float64)[:-1])
    v = torch.cat([pos, neg, torch.zeros(1, dtype=torch.float64)]).sort().values
    return (v / v.max()).float()


def nf4_quantize_reference(w: torch.Tensor, block: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """(codes uint8 (numel,), absmax float32 (numel/block,)): each value → the nearest NF4 level of w/absmax."""
    if w.numel() % block:
        raise ValueError(f"w has {w.numel()} values, not a multiple of block={block}")
    blocks = w.detach().float().reshape(-1, block)
    absmax = blocks.abs().amax(dim=1)
    scaled = blocks / torch.where(absmax > 0, absmax, torch.ones_like(absmax))[:, None]
    codes = (scaled[..., None] - nf4_levels_reference()).abs().argmin(dim=-1)
    return codes.reshape(-1).to(torch.uint8), absmax


def nf4_dequantize_reference(codes: torch.Tensor, absmax: torch.Tensor, shape: tuple[int, ...],
                             block: int = 64) -> torch.Tensor:
    values = nf4_levels_reference()[codes.long()].reshape(-1, block) * absmax[:, None]
    return values.reshape(shape)


def check_nf4(levels_fn: Callable[[], torch.Tensor], quantize: Callable[..., tuple[torch.Tensor, torch.Tensor]],
              dequantize: Callable[..., torch.Tensor]) -> None:
    """NF4 as in QLoRA: ``levels_fn()`` (16,), ``quantize(w, block)`` -> (codes, absmax), and
    ``dequantize(codes, absmax, shape, block)``.

    codes are the level indices 0..15 (uint8, one per value, flattened), absmax
    one float32 per block of ``block`` consecutive values. Checked on Gaussian
    weights, heavy tails, a block of zeros and a single block; a size that is
    not a multiple of ``block`` must raise ``ValueError`` naming it.
    """
    levels = levels_fn()
    ref = nf4_levels_reference()
    assert isinstance(levels, torch.Tensor) and levels.shape == (16,), (
        f"levels_fn() must return a tensor of 16 values, got {getattr(levels, 'shape', type(levels).__name__)}")
    with_hint(lambda: assert_close(levels.float(), ref, rtol=0, atol=1e-6, name="NF4 levels"),
              "8 positive quantiles Φ⁻¹(p) for p = linspace(δ, ½, 9)[:-1], 7 negative ones −Φ⁻¹(p) for "
              "p = linspace(δ, ½, 8)[:-1], and 0; sort and divide by the largest (δ = 0.9677…, "
              "torch.special.ndtri is Φ⁻¹)")
    g = torch.Generator().manual_seed(24)
    zeros_block = torch.randn(3, 64, generator=g)
    zeros_block[1] = 0.0
    cases = [("Gaussian (32, 128)", torch.randn(32, 128, generator=g), 64),
             ("heavy-tailed (16, 96)", torch.randn(16, 96, generator=g) ** 3, 32),
             ("a block of zeros", zeros_block, 64),
             ("one block", torch.randn(64, generator=g) * 0.02, 64)]
    for what, w, block in cases:
        got = quantize(w.clone(), block)
        assert isinstance(got, tuple) and len(got) == 2, "quantize must return the pair (codes, absmax)"
        codes, absmax = got
        want_codes, want_absmax = nf4_quantize_reference(w, block)
        assert codes.shape == want_codes.shape and absmax.shape == want_absmax.shape, (
            f"{what}: codes must have shape {tuple(want_codes.shape)} (one per value) and absmax "
            f"{tuple(want_absmax.shape)} (one per block); got {tuple(codes.shape)} and {tuple(absmax.shape)}")
        with_hint(lambda: assert_close(absmax.float(), want_absmax, rtol=1e-6, atol=0, name=f"absmax, {what}"),
                  "one scale per block of consecutive values of w.reshape(-1): the largest |value|")
        wrong = int((codes.long() != want_codes.long()).sum())
        assert wrong == 0, (f"{what}: {wrong} of {codes.numel()} codes differ from the nearest NF4 level. Hint: "
                            "divide each block by its absmax (a block of zeros stays 0) and take the index of "
                            "the nearest level")
        back = dequantize(codes, absmax, tuple(w.shape), block)
        assert tuple(back.shape) == tuple(w.shape), f"dequantize must return shape {tuple(w.shape)}"
        assert_close(back.float(), nf4_dequantize_reference(want_codes, want_absmax, tuple(w.shape), block),
                     rtol=1e-6, atol=1e-7, name=f"dequantized, {what}")
    try:
        quantize(torch.randn(10, 10, generator=g), 64)
    except ValueError as e:
        assert "block" in str(e), f"the ValueError must name block, got: {e}"
    else:
        raise AssertionError("100 values in blocks of 64 must raise ValueError naming block")
    passed("NF4 levels, codes and dequantized values = the reference on 4 tensors (a block of zeros and "
           "heavy tails included); a size that blocks do not divide is refused")
