"""A safetensors writer and reader from scratch, byte for byte as the ``safetensors`` library writes them.

A ``.safetensors`` file is three things in a row:

1. ``N``, the length of the header in bytes, as an unsigned 64-bit little-endian integer;
2. the header: ``N`` bytes of UTF-8 JSON, one entry per tensor,
   ``{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}``, and an
   optional ``"__metadata__"`` entry mapping strings to strings. The library writes
   the JSON without spaces, metadata first, then the tensors sorted by dtype (the
   widest first, so every tensor starts at a multiple of its own element size)
   and then by name, and pads the header with spaces until ``8 + N`` is a
   multiple of 8;
3. the data: every tensor's bytes, little-endian, row-major, back to back;
   ``data_offsets`` count from the first byte after the header.

Nothing in the file is executable, and a reader can check every offset
before touching the data, which is what :func:`read` does: a truncated or
corrupt file raises a ``ValueError`` naming the file, the byte offset and what
was expected there. Taught in p6-4.2.

>>> import torch
>>> raw = dumps({"w": torch.ones(2, 3), "b": torch.zeros(3, dtype=torch.float16)}, {"note": "hi"})
>>> raw[:8].hex()                       # the header length, little-endian
'9000000000000000'
>>> raw[8:41]
b'{"__metadata__":{"note":"hi"},"w"'
>>> tensors, meta = loads(raw)
>>> tensors["w"].shape, tensors["b"].dtype, meta
(torch.Size([2, 3]), torch.float16, {'note': 'hi'})
>>> loads(raw[:100], name="cut.safetensors")
Traceback (most recent call last):
...
ValueError: cut.safetensors: at byte 8: expected a header of 144 bytes (it ends at byte 152), but the file has 100 bytes
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import torch

#: safetensors' dtype names, in the order the library sorts tensors (descending element size, then its enum)
DTYPES: dict[str, torch.dtype] = {
    "U64": torch.uint64, "I64": torch.int64, "F64": torch.float64,
    "F32": torch.float32, "U32": torch.uint32, "I32": torch.int32,
    "BF16": torch.bfloat16, "F16": torch.float16, "U16": torch.uint16, "I16": torch.int16,
    "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
    "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
}
_NAMES = {dt: name for name, dt in DTYPES.items()}
_RANK = {name: i for i, name in enumerate(DTYPES)}
MAX_HEADER = 100_000_000          #: the library refuses larger headers; so do we


def _tensor_bytes(t: torch.Tensor) -> bytes:
    """A tensor's data, row-major and little-endian (the byte order safetensors prescribes)."""
    t = t.detach().contiguous().cpu()
    if t.numel() == 0:
        return b""
    raw = t.reshape(-1).view(torch.uint8) if t.dtype != torch.bool else t.reshape(-1).to(torch.uint8)
    return raw.numpy().tobytes()


def dumps(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """Serialise named tensors (and string metadata) to the bytes ``safetensors.torch.save`` returns.

    Tensors that share memory are written twice here; the library refuses them
    (``book.formats.checkpoint`` stores a tied weight once and records the alias).
    """
    if not isinstance(tensors, dict) or not all(isinstance(k, str) for k in tensors):
        raise ValueError("tensors must be a dict from str names to tensors")
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"tensors[{name!r}] must be a torch.Tensor, got {type(t).__name__}")
        if t.dtype not in _NAMES:
            raise ValueError(f"tensors[{name!r}] has dtype {t.dtype}, which safetensors cannot store")
    if "__metadata__" in tensors:
        raise ValueError("'__metadata__' is reserved for the metadata; it cannot name a tensor")
    if metadata is not None:
        bad = {k: v for k, v in metadata.items() if not (isinstance(k, str) and isinstance(v, str))}
        if bad:
            raise ValueError(f"metadata must map str to str; offending entries: {bad}")
    order = sorted(tensors, key=lambda n: (_RANK[_NAMES[tensors[n].dtype]], n))
    header: dict[str, object] = {}
    if metadata is not None:             # the library writes an empty {} too, when given one
        header["__metadata__"] = dict(metadata)
    chunks, offset = [], 0
    for name in order:
        data = _tensor_bytes(tensors[name])
        header[name] = {"dtype": _NAMES[tensors[name].dtype], "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-(8 + len(text)) % 8)           # pad with spaces: the data starts at a multiple of 8
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def write(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> Path:
    """Write :func:`dumps` to ``path``; returns the path."""
    path = Path(path)
    path.write_bytes(dumps(tensors, metadata))
    return path


def _fail(name: str, offset: int, message: str) -> ValueError:
    return ValueError(f"{name}: at byte {offset}: {message}")


def read_header(raw: bytes, name: str = "<bytes>") -> tuple[dict[str, dict], dict[str, str], int]:
    """Parse and check the header: (tensor entries, metadata, offset of the data); ValueError on any fault."""
    if len(raw) < 8:
        raise _fail(name, 0, f"expected an 8-byte header length, but the file has {len(raw)} bytes")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > MAX_HEADER:
        raise _fail(name, 0, f"expected a header length below {MAX_HEADER}, got {n}")
    if 8 + n > len(raw):
        raise _fail(name, 8, f"expected a header of {n} bytes (it ends at byte {8 + n}), "
                             f"but the file has {len(raw)} bytes")
    try:
        text = raw[8:8 + n].decode("utf-8")
    except UnicodeDecodeError as e:
        raise _fail(name, 8 + e.start, "expected UTF-8 text in the JSON header") from None
    try:
        header = json.loads(text)
    except json.JSONDecodeError as e:
        raise _fail(name, 8 + len(text[:e.pos].encode()), f"expected valid JSON in the header ({e.msg})") from None
    if not isinstance(header, dict):
        raise _fail(name, 8, f"expected a JSON object as the header, got {type(header).__name__}")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _fail(name, 8, "expected '__metadata__' to map strings to strings")
    data_len = len(raw) - 8 - n
    spans = []
    for key, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise _fail(name, 8, f"tensor {key!r}: expected the keys dtype, shape and data_offsets, got {entry!r}")
        dtype, shape, offs = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in DTYPES:
            raise _fail(name, 8, f"tensor {key!r}: expected one of the dtypes {sorted(DTYPES)}, got {dtype!r}")
        if not (isinstance(shape, list) and all(isinstance(s, int) and s >= 0 for s in shape)):
            raise _fail(name, 8, f"tensor {key!r}: expected a shape of non-negative integers, got {shape!r}")
        if not (isinstance(offs, list) and len(offs) == 2 and all(isinstance(o, int) for o in offs)
                and 0 <= offs[0] <= offs[1]):
            raise _fail(name, 8, f"tensor {key!r}: expected data_offsets [begin, end], got {offs!r}")
        need = math.prod(shape) * DTYPES[dtype].itemsize
        if offs[1] - offs[0] != need:
            raise _fail(name, 8 + n + offs[0], f"tensor {key!r}: expected {need} bytes for {dtype} "
                                               f"{tuple(shape)}, but data_offsets span {offs[1] - offs[0]}")
        spans.append((offs[0], offs[1], key))
    end = 0
    for begin, stop, key in sorted(spans):
        if begin != end:
            raise _fail(name, 8 + n + min(begin, end), f"tensor {key!r}: expected its data to start at "
                                                       f"data offset {end} (no gaps, no overlaps), got {begin}")
        end = stop
    if end != data_len:
        what = "is truncated" if end > data_len else "has trailing bytes"
        raise _fail(name, 8 + n + min(end, data_len), f"expected {end} bytes of tensor data after the header, "
                                                      f"found {data_len}: the file {what}")
    return header, dict(metadata), 8 + n


def loads(raw: bytes, name: str = "<bytes>") -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Parse safetensors bytes into (tensors, metadata), every offset checked first."""
    header, metadata, start = read_header(raw, name)
    tensors = {}
    for key, entry in header.items():
        begin, end = entry["data_offsets"]
        dtype, shape = DTYPES[entry["dtype"]], entry["shape"]
        buf = bytearray(raw[start + begin:start + end])
        if dtype == torch.bool:
            t = torch.frombuffer(buf, dtype=torch.uint8).to(torch.bool) if buf else torch.empty(0, dtype=dtype)
        else:
            t = torch.frombuffer(buf, dtype=dtype) if buf else torch.empty(0, dtype=dtype)
        tensors[key] = t.reshape(shape)
    return tensors, metadata


def read(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a ``.safetensors`` file: (tensors, metadata); ValueError naming the file, offset and reason."""
    path = Path(path)
    return loads(path.read_bytes(), path.name)
