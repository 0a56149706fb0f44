"""Save a model's weights to a ``.safetensors`` file and load them into a fresh model.

A safetensors file holds named tensors and a string-to-string metadata header,
and nothing executable, so loading one cannot run code (unlike a pickle). Two
things need care, and this module handles both:

* **Tied weights.** A GPT's token embedding and its output head can be one
  tensor under two names. ``safetensors`` refuses to write the same memory twice,
  so :func:`save` stores each tensor once and records the other names in the
  metadata; :func:`load` restores the tie through ``load_state_dict``.
* **Mismatches.** Loading a checkpoint of another configuration must fail
  before any weight is copied, with the tensor's name and both shapes, not
  deep inside ``load_state_dict``.

    >>> import tempfile, torch
    >>> from torch import nn
    >>> path = tempfile.mkdtemp() + "/model.safetensors"
    >>> _ = save(nn.Linear(3, 2), path, {"recipe": "doctest"})
    >>> read_metadata(path)
    {'recipe': 'doctest'}
    >>> load(nn.Linear(3, 2), path)
    {'recipe': 'doctest'}
    >>> load(nn.Linear(4, 2), path)
    Traceback (most recent call last):
    ...
    ValueError: model.safetensors: tensor 'weight' has shape (2, 3) in the file but (2, 4) in the model

Taught in p4-index (every recipe saves and reloads its model this way).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

_ALIASES = "book.aliases"    # metadata key: JSON {alias name: stored name}


def _unique_tensors(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Split a state dict into one entry per distinct tensor and a map from every other name to it."""
    stored: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    owner: dict[tuple, str] = {}
    for name, t in state.items():
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()), t.dtype)
        if t.numel() and key in owner:
            aliases[name] = owner[key]
        else:
            owner[key] = name
            stored[name] = t.detach().contiguous().cpu()
    return stored, aliases


def save(model: nn.Module, path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """Write ``model.state_dict()`` to ``path`` (a ``.safetensors`` file), tied tensors once; returns the path."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"save: path must end in .safetensors, got {str(path)!r}")
    metadata = dict(metadata or {})
    bad = {k: v for k, v in metadata.items() if not (isinstance(k, str) and isinstance(v, str))}
    if bad:
        raise ValueError(f"save: metadata must map strings to strings; offending entries: {bad}")
    if _ALIASES in metadata:
        raise ValueError(f"save: the metadata key {_ALIASES!r} is reserved for tied weights")
    stored, aliases = _unique_tensors(model.state_dict())
    if aliases:
        metadata[_ALIASES] = json.dumps(aliases, sort_keys=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(stored, str(path), metadata=metadata)
    return path


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata header of a checkpoint, without reading its tensors (e.g. the configuration to build the model)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_metadata: no checkpoint at {str(path)!r}")
    with safe_open(str(path), framework="pt") as f:
        metadata = dict(f.metadata() or {})
    metadata.pop(_ALIASES, None)
    return metadata


def load(model: nn.Module, path: str | Path, device: str | torch.device | None = None) -> dict[str, str]:
    """Load ``path`` into ``model`` in place after checking every name, shape and dtype; returns the metadata.

    ``device``: where the file's tensors are read to (default: the device of the model's first parameter).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load: no checkpoint at {str(path)!r}")
    expected = model.state_dict()
    if device is None:
        device = next((t.device for t in expected.values()), torch.device("cpu"))
    with safe_open(str(path), framework="pt", device=str(device)) as f:
        metadata = dict(f.metadata() or {})
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    aliases = json.loads(metadata.pop(_ALIASES, "{}"))
    for alias, name in aliases.items():
        tensors[alias] = tensors[name]
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ValueError(f"{path.name}: the file does not fit this model: missing {missing or 'nothing'}, "
                         f"unexpected {unexpected or 'nothing'}")
    for name, want in expected.items():
        got = tensors[name]
        if got.shape != want.shape:
            raise ValueError(f"{path.name}: tensor {name!r} has shape {tuple(got.shape)} in the file "
                             f"but {tuple(want.shape)} in the model")
        if got.dtype != want.dtype:
            raise ValueError(f"{path.name}: tensor {name!r} is {got.dtype} in the file but {want.dtype} in the model")
    model.load_state_dict(tensors)
    return metadata
