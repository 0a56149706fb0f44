"""Weight-only INT8 / INT4 linear layers for the serving engine: the model runner reads quantised weights.

:func:`quantize_model` returns a copy of a :class:`book.nn.gpt.GPT` whose
linear layers inside the transformer blocks (attention projections and MLP)
are :class:`QuantLinear` modules storing the formats of
:mod:`book.quant.weight_only`: INT8 codes with one fp32 scale per output row,
or INT4 codes packed two per byte with one fp32 scale per group of
``group_size`` inputs. The embeddings and the (tied) output head stay in the
model's dtype, as llama.cpp and most weight-only schemes keep them. Because
:class:`book.serving.engine.ModelRunner` calls the GPT's own modules, the
engine serves the quantised copy unchanged: continuous batching, the paged
cache and quantised weights stack.

``QuantLinear.forward`` is the reference path: it dequantises the whole
weight, Ŵ = s q, and multiplies, y = x Ŵᵀ + b. That reads fewer bytes from
memory than a float weight but does *more* work per call, so in eager
PyTorch on a CPU it is not faster; the Triton kernels of
:mod:`book.kernels.quant_matmul` dequantise tile by tile in registers and
are where the saving turns into speed on a GPU. Taught in p6-3.2.

>>> import torch
>>> from book.nn.gpt import GPT, GPTConfig
>>> _ = torch.manual_seed(0)
>>> model = GPT(GPTConfig(vocab_size=11, block_size=16, n_layer=1, d_model=32, n_head=2)).double()
>>> q8 = quantize_model(model, QuantConfig("int8"))
>>> type(q8.blocks[0].mlp.up).__name__, linear_weight_bytes(q8) < linear_weight_bytes(model) // 6
('QuantLinear', True)
>>> x = torch.tensor([[1, 2, 3]])
>>> err = (q8(x)[0] - model(x)[0]).abs().max().item()
>>> err < 5e-3                      # INT8 rounding: a fraction of a percent of logits of size ~0.5
True
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from book.quant.weight_only import dequantize_int4, dequantize_int8, quantize_int4, quantize_int8

FORMATS = ("int8", "int4")


@dataclass(frozen=True)
class QuantConfig:
    """Which weight-only format to serve. Taught in p6-3.2.

    ``fmt`` is "int8" (per output row) or "int4" (per group of ``group_size``
    inputs; the group must divide every layer's input width and be even).
    GPTQ-style 4-bit checkpoints use groups of 128; our tiny model's layers
    are only 64 wide, hence 32.
    """

    fmt: str = "int8"
    group_size: int = 32

    def __post_init__(self):
        if self.fmt not in FORMATS:
            raise ValueError(f"fmt must be one of {FORMATS}, got {self.fmt!r}")
        if not isinstance(self.group_size, int) or isinstance(self.group_size, bool) or self.group_size < 2 \
                or self.group_size % 2:
            raise ValueError(f"group_size must be an even int >= 2, got {self.group_size!r}")


class QuantLinear(nn.Module):
    """A linear layer y = x Ŵᵀ + b whose weight is stored as INT8 or packed INT4 codes and fp32 scales.

    Built from an ``nn.Linear`` by :meth:`from_linear`; the codes and scales
    are buffers (not parameters: nothing here trains). The output has x's dtype.
    """

    def __init__(self, in_features: int, out_features: int, cfg: QuantConfig, bias: torch.Tensor | None):
        super().__init__()
        self.in_features, self.out_features, self.cfg = in_features, out_features, cfg
        if cfg.fmt == "int8":
            self.register_buffer("codes", torch.zeros(out_features, in_features, dtype=torch.int8))
            self.register_buffer("scales", torch.zeros(out_features))
        else:
            self.register_buffer("codes", torch.zeros(out_features, in_features // 2, dtype=torch.uint8))
            self.register_buffer("scales", torch.zeros(out_features, in_features // cfg.group_size))
        self.register_buffer("bias", None if bias is None else bias.detach().clone())

    @classmethod
    def from_linear(cls, linear: nn.Linear, cfg: QuantConfig) -> QuantLinear:
        """Quantise ``linear.weight`` (N, K) in format ``cfg.fmt``; ValueError names the layer width if it cannot."""
        n, k = linear.weight.shape
        if cfg.fmt == "int4" and k % cfg.group_size:
            raise ValueError(f"group_size={cfg.group_size} does not divide the layer's input width K={k} "
                             f"(weight shape ({n}, {k}))")
        layer = cls(k, n, cfg, linear.bias)
        w = linear.weight.detach()
        codes, scales = quantize_int8(w) if cfg.fmt == "int8" else quantize_int4(w, cfg.group_size)
        layer.codes.copy_(codes)
        layer.scales.copy_(scales)
        return layer

    def dequantized_weight(self) -> torch.Tensor:
        """Ŵ = s q as float32 (N, K): what the reference matmul multiplies by."""
        if self.cfg.fmt == "int8":
            return dequantize_int8(self.codes, self.scales)
        return dequantize_int4(self.codes, self.scales, self.cfg.group_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x must end in in_features={self.in_features}, got shape {tuple(x.shape)}")
        y = x @ self.dequantized_weight().to(x.dtype).T                    # (…, N)
        return y if self.bias is None else y + self.bias.to(x.dtype)

    def weight_bytes(self) -> int:
        """Bytes the weight occupies: codes plus scales (the bias is not a weight)."""
        return self.codes.numel() * self.codes.element_size() + self.scales.numel() * self.scales.element_size()

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, fmt={self.cfg.fmt}"


def quantize_model(model: nn.Module, cfg: QuantConfig | None = None) -> nn.Module:
    """A deep copy of a GPT with every ``nn.Linear`` inside ``model.blocks`` replaced by a :class:`QuantLinear`.

    The original is untouched; the copy is in eval mode. Taught in p6-3.2.
    """
    cfg = cfg or QuantConfig()
    if not hasattr(model, "blocks"):
        raise ValueError(f"model must be a GPT with .blocks, got {type(model).__name__}")
    out = copy.deepcopy(model).eval()
    for block in out.blocks:
        for child in list(block.modules()):
            for attr, sub in list(child.named_children()):
                if isinstance(sub, nn.Linear):
                    setattr(child, attr, QuantLinear.from_linear(sub, cfg))
    return out


def linear_weight_bytes(model: nn.Module) -> int:
    """Bytes of the weights of the linear layers inside ``model.blocks`` (float or quantised)."""
    total = 0
    for module in model.blocks.modules():
        if isinstance(module, QuantLinear):
            total += module.weight_bytes()
        elif isinstance(module, nn.Linear):
            total += module.weight.numel() * module.weight.element_size()
    return total
