"""Exercise checkers for p6-4 (the open-source ecosystem: GGUF tensor sizes, parameter counts, safetensors headers).

The references are :mod:`book.formats.gguf_io`, :mod:`book.formats.memory`
and the ``safetensors`` library itself. Inputs are awkward on purpose: a
tensor with one row, a 1-D bias, a width that is not a multiple of 32, a
config without ``num_key_value_heads`` (plain multi-head attention), tied and
untied embeddings, an empty tensor, a Unicode name, and a truncated file.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable

import torch
from safetensors.torch import save

from book.exercises import passed
from book.formats import gguf_io, memory


# ------------------------------------------------------------ ex-p6-4-1: bytes of a GGUF tensor
def gguf_tensor_bytes_reference(shape: tuple[int, ...], ggml_type: str) -> int:
    """Bytes of a tensor's data in a GGUF file (before padding); ValueError if the rows do not fill whole blocks."""
    per_block, block_bytes = gguf_io.BLOCK[ggml_type]
    width = shape[-1] if shape else 1
    if width % per_block:
        raise ValueError(f"{ggml_type} needs the last dimension to be a multiple of {per_block}, got {shape}")
    return math.prod(shape) // per_block * block_bytes


def check_gguf_tensor_bytes(fn: Callable[[tuple[int, ...], str], int]) -> None:
    """``fn(shape, ggml_type)`` -> bytes; must raise ValueError for a Q4_0/Q8_0 row that is not whole blocks."""
    cases = [("a (64, 64) matrix in F32", ((64, 64), "F32")), ("a bias of 256 in F16", ((256,), "F16")),
             ("the tiny GPT's MLP up-projection in Q8_0", ((256, 64), "Q8_0")),
             ("one row of 4096 in Q4_0", ((1, 4096), "Q4_0")),
             ("LLaMA-3-8B's token embedding in Q4_0", ((128256, 4096), "Q4_0")),
             ("a 3-D tensor in Q8_0", ((5, 2, 32), "Q8_0"))]
    for name, (shape, ggml_type) in cases:
        want = gguf_tensor_bytes_reference(shape, ggml_type)
        got = fn(shape, ggml_type)
        if ggml_type.startswith("Q") and got == math.prod(shape) * (8 if ggml_type == "Q8_0" else 4) // 8:
            raise AssertionError(f"{name}: got {got}, the codes alone; each block of 32 also stores a 2-byte scale")
        assert isinstance(got, int) and got == want, f"{name}: got {got!r}, expected {want} bytes"
    try:
        fn((64, 48), "Q4_0")
    except ValueError:
        pass
    else:
        raise AssertionError("shape (64, 48) in Q4_0: rows of 48 are not whole blocks of 32; raise ValueError")
    passed(f"GGUF tensor bytes on {len(cases)} shapes in F32, F16, Q8_0 and Q4_0, and a bad width rejected")


# ------------------------------------------------------------ ex-p6-4-2: parameters from a config.json
CONFIGS = {
    "LLaMA-3-8B": {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                   "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
                   "tie_word_embeddings": False},
    "LLaMA-2-70B": {"hidden_size": 8192, "intermediate_size": 28672, "num_hidden_layers": 80,
                    "num_attention_heads": 64, "num_key_value_heads": 8, "vocab_size": 32000,
                    "tie_word_embeddings": False},
    "LLaMA-2-7B (no num_key_value_heads: multi-head)": {
        "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
        "vocab_size": 32000, "tie_word_embeddings": False},
    "a small model with tied embeddings": {
        "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
        "num_key_value_heads": 8, "vocab_size": 128256, "tie_word_embeddings": True},
}


def check_param_count(fn: Callable[[dict], int]) -> None:
    """``fn(config)`` -> parameters of a LLaMA-style model (RMSNorm, SwiGLU, GQA, no biases) from its config."""
    for name, cfg in CONFIGS.items():
        spec = memory.ModelSpec.from_hf_config(cfg)
        want = memory.param_count(spec)
        got = fn(dict(cfg))
        parts = memory.param_breakdown(spec)
        if got == want - parts["norms"]:
            raise AssertionError(f"{name}: got {got:,}, short by the RMSNorm weights (2 per block and a final one)")
        if cfg.get("tie_word_embeddings") and got == want + parts["embeddings"]:
            raise AssertionError(f"{name}: got {got:,}; with tied embeddings the LM head is the embedding, "
                                 "count it once")
        assert got == want, f"{name}: got {got:,}, expected {want:,}"
    passed(f"parameter counts of {len(CONFIGS)} configs: GQA, multi-head, tied and untied embeddings")


# ------------------------------------------------------------ ex-p6-4-3: a safetensors header parser
def _cases() -> list[tuple[str, dict, dict | None]]:
    g = torch.Generator().manual_seed(4)
    return [
        ("two fp32 tensors", {"w": torch.randn(3, 5, generator=g), "b": torch.randn(5, generator=g)}, None),
        ("mixed dtypes and metadata", {"x": torch.arange(7, dtype=torch.int64), "h": torch.ones(2, 2).half(),
                                       "m": torch.zeros(4, dtype=torch.bool)}, {"format": "pt"}),
        ("an empty tensor and a Unicode name", {"vide": torch.zeros(0, 3), "名前": torch.ones(1)}, {"é": "ü"}),
    ]


def check_safetensors_header(fn: Callable[[bytes], tuple[dict, dict]]) -> None:
    """``fn(raw)`` -> ({name: (dtype, shape, (begin, end))}, metadata); ValueError on a truncated file."""
    for name, tensors, meta in _cases():
        raw = save(tensors, metadata=meta)
        (n,) = struct.unpack("<Q", raw[:8])
        want = {k: (v["dtype"], tuple(v["shape"]), tuple(v["data_offsets"]))
                for k, v in json.loads(raw[8:8 + n]).items() if k != "__metadata__"}
        got, got_meta = fn(raw)
        got = {k: (d, tuple(s), tuple(o)) for k, (d, s, o) in got.items()}
        if any(k.startswith("__") for k in got):
            raise AssertionError(f"{name}: '__metadata__' is not a tensor; return it separately")
        assert got == want, f"{name}: got {got}, expected {want}"
        assert got_meta == (meta or {}), f"{name}: metadata {got_meta}, expected {meta or {}}"
        for cut in (5, n // 2 + 8, len(raw) - 1):
            try:
                fn(raw[:cut])
            except ValueError:
                continue
            except Exception as e:     # a crash deep inside is what the exercise is about avoiding
                raise AssertionError(f"{name}: a file cut to {cut} bytes raised {type(e).__name__}: {e}; check the "
                                     f"lengths first and raise ValueError saying what is missing") from None
            raise AssertionError(f"{name}: a file cut to {cut} of {len(raw)} bytes was accepted; raise ValueError")
    passed(f"safetensors headers of {len(_cases())} files parsed, truncated copies rejected")
