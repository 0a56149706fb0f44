"""How many parameters a decoder-only transformer has, and how many bytes it needs to serve or to train.

Four things fill an accelerator's memory:

* **weights**: the parameter count times the bytes per parameter (2 in bf16,
  about 1.06 in Q8_0, 0.56 in Q4_0);
* **the KV cache** at inference, ``2 · L · H_kv · D_h · bytes`` per token
  (:func:`book.inference.economics.kv_cache_bytes`);
* **activations** saved for the backward pass in training; this module gives
  the estimate of Korthikanti et al. (2022) for a block with 16-bit
  activations and no recomputation, ``s·b·h·(34 + 5·a·s/h)`` bytes per layer
  (s tokens, b sequences, h = d_model, a heads), scaled to other element
  sizes. It is an estimate: what an implementation really keeps depends on its
  attention kernel and its dropout;
* **optimizer states**: AdamW keeps two fp32 moments per parameter; in mixed
  precision training a parameter also has a 16-bit copy, a 16-bit gradient and
  an fp32 master copy, 2 + 2 + 4 + 4 + 4 = 16 bytes in all (Rajbhandari et al.,
  2020, who shard exactly these across GPUs in ZeRO).

The parameter count is exact for the book's GPT (biases, LayerNorm or RMSNorm,
learned positions, tied head) and for LLaMA-style models read from a Hugging
Face ``config.json``. Taught in p6-4.4.

>>> spec = ModelSpec.from_hf_config({"hidden_size": 4096, "intermediate_size": 14336,
...     "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
...     "vocab_size": 128256, "tie_word_embeddings": False, "hidden_act": "silu"})
>>> param_count(spec)                      # LLaMA-3-8B
8030261248
>>> training_bytes_per_param("mixed")
{'weights': 2, 'gradients': 2, 'master weights': 4, 'adam m': 4, 'adam v': 4}
"""

from __future__ import annotations

from dataclasses import dataclass

from book.inference.economics import TransformerShape, kv_cache_bytes

__all__ = ["ModelSpec", "param_count", "param_breakdown", "weight_bytes", "kv_cache_bytes",
           "activation_bytes", "training_bytes_per_param", "adamw_state_bytes", "training_bytes"]


@dataclass(frozen=True)
class ModelSpec:
    """A :class:`~book.inference.economics.TransformerShape` plus what it leaves out of the count.

    ``attn_bias``/``mlp_bias``: biases on the attention and feed-forward
    projections; ``norm``: "layernorm" (a weight and a bias) or "rmsnorm" (a
    weight); ``positions``: rows of a learned position table (0 for RoPE or
    fixed positions).
    """

    shape: TransformerShape
    attn_bias: bool = False
    mlp_bias: bool = False
    norm: str = "rmsnorm"
    positions: int = 0
    name: str = ""

    def __post_init__(self):
        if not isinstance(self.shape, TransformerShape):
            raise ValueError(f"shape must be a TransformerShape, got {type(self.shape).__name__}")
        if self.norm not in ("layernorm", "rmsnorm"):
            raise ValueError(f"norm must be 'layernorm' or 'rmsnorm', got {self.norm!r}")
        if not isinstance(self.positions, int) or self.positions < 0:
            raise ValueError(f"positions must be an integer >= 0, got {self.positions!r}")

    @classmethod
    def from_gpt_config(cls, cfg) -> ModelSpec:
        """The spec of a :class:`book.nn.gpt.GPTConfig` (its SwiGLU MLP has no biases)."""
        return cls(TransformerShape.from_gpt_config(cfg), attn_bias=cfg.bias,
                   mlp_bias=cfg.bias and cfg.mlp == "gelu", norm=cfg.norm,
                   positions=cfg.block_size if cfg.positions == "learned" else 0, name="book GPT")

    @classmethod
    def from_hf_config(cls, config: dict, name: str = "") -> ModelSpec:
        """A LLaMA-style model from the fields of its Hugging Face ``config.json`` (RMSNorm, RoPE, SwiGLU)."""
        need = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size")
        missing = [k for k in need if k not in config]
        if missing:
            raise ValueError(f"config is missing {missing}")
        shape = TransformerShape(
            n_layer=config["num_hidden_layers"], d_model=config["hidden_size"],
            n_head=config["num_attention_heads"],
            n_kv_head=config.get("num_key_value_heads", config["num_attention_heads"]),
            d_ff=config["intermediate_size"], vocab_size=config["vocab_size"],
            gated_mlp=config.get("hidden_act", "silu") == "silu",
            tied_embeddings=config.get("tie_word_embeddings", False), name=name)
        return cls(shape, attn_bias=config.get("attention_bias", False), mlp_bias=config.get("mlp_bias", False),
                   norm="rmsnorm", positions=0, name=name)


def param_breakdown(spec: ModelSpec) -> dict[str, int]:
    """Parameters by kind: embeddings (token and position), attention, feed-forward, norms, LM head."""
    s = spec.shape
    attn = 2 * s.d_model * s.d_model + 2 * s.d_model * s.kv_dim
    if spec.attn_bias:
        attn += 2 * s.d_model + 2 * s.kv_dim                       # q and out, then k and v
    mlp = (3 if s.gated_mlp else 2) * s.d_model * s.d_ff
    if spec.mlp_bias:
        mlp += (2 if s.gated_mlp else 1) * s.d_ff + s.d_model
    per_norm = (2 if spec.norm == "layernorm" else 1) * s.d_model
    return {
        "embeddings": s.vocab_size * s.d_model + spec.positions * s.d_model,
        "attention": s.n_layer * attn,
        "feed-forward": s.n_layer * mlp,
        "norms": (2 * s.n_layer + 1) * per_norm,                  # two per block and a final one
        "LM head": 0 if s.tied_embeddings else s.vocab_size * s.d_model,
    }


def param_count(spec: ModelSpec) -> int:
    """Every parameter, a tied embedding counted once (what ``sum(p.numel() for p in model.parameters())`` gives)."""
    return sum(param_breakdown(spec).values())


def weight_bytes(spec: ModelSpec, bytes_per_param: float = 2.0) -> float:
    """Bytes of the weights at ``bytes_per_param`` (4 fp32, 2 bf16, 34/32 Q8_0, 18/32 Q4_0)."""
    if not bytes_per_param > 0:
        raise ValueError(f"bytes_per_param must be > 0, got {bytes_per_param!r}")
    return param_count(spec) * bytes_per_param


def activation_bytes(spec: ModelSpec, batch: int, seq_len: int, bytes_per_value: float = 2.0,
                     fused_attention: bool = False) -> float:
    """Estimated activations kept for backward: L · s·b·h·(34 + 5·a·s/h) · bytes_per_value / 2.

    Korthikanti et al.'s count for 16-bit activations with dropout and no
    recomputation; an estimate, not a measurement (see the module docstring).
    ``fused_attention=True`` drops the 5·a·s/h term, the attention scores and
    probabilities that a fused (FlashAttention-style) kernel never stores.
    """
    for arg, v in (("batch", batch), ("seq_len", seq_len)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{arg} must be a positive integer, got {v!r}")
    s = spec.shape
    scores = 0.0 if fused_attention else 5 * s.n_head * seq_len / s.d_model
    per_layer = seq_len * batch * s.d_model * (34 + scores)
    return s.n_layer * per_layer * bytes_per_value / 2


def training_bytes_per_param(recipe: str = "mixed") -> dict[str, int]:
    """Bytes per parameter of AdamW training: "mixed" (16-bit compute, fp32 master and moments) or "fp32"."""
    if recipe == "mixed":
        return {"weights": 2, "gradients": 2, "master weights": 4, "adam m": 4, "adam v": 4}
    if recipe == "fp32":
        return {"weights": 4, "gradients": 4, "master weights": 0, "adam m": 4, "adam v": 4}
    raise ValueError(f"recipe must be 'mixed' or 'fp32', got {recipe!r}")


def adamw_state_bytes(n_params: int, n_tensors: int = 0) -> int:
    """Bytes of ``torch.optim.AdamW``'s state after a step: two fp32 moments per parameter, plus one
    fp32 ``step`` counter per parameter tensor (``n_tensors``)."""
    if n_params < 0 or n_tensors < 0:
        raise ValueError(f"n_params and n_tensors must be >= 0, got {n_params}, {n_tensors}")
    return 8 * n_params + 4 * n_tensors


def training_bytes(spec: ModelSpec, batch: int, seq_len: int, recipe: str = "mixed",
                   fused_attention: bool = True) -> dict[str, float]:
    """Weights, gradients, optimizer states and (estimated) activations of one training step, in bytes.

    Activations assume a fused attention kernel by default, as large-scale training does.
    """
    n = param_count(spec)
    per = training_bytes_per_param(recipe)
    act = 2 if recipe == "mixed" else 4
    return {"weights": n * per["weights"], "gradients": n * per["gradients"],
            "optimizer (master + m + v)": n * (per["master weights"] + per["adam m"] + per["adam v"]),
            "activations (estimate)": activation_bytes(spec, batch, seq_len, act, fused_attention)}
