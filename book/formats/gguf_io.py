"""A GGUF v3 writer and reader from scratch: the single-file format of llama.cpp and its kin.

A GGUF file carries a model's weights *and* everything needed to run it
(architecture, sizes, tokenizer) as typed key-values, in this order; every
number is little-endian:

========================  ====================================================
``b"GGUF"``               the magic, 4 bytes
``u32`` version           3
``u64`` tensor count
``u64`` key-value count
key-values                each: key (a string), ``u32`` value type, the value
tensor infos              each: name (a string), ``u32`` n_dims, n_dims × ``u64``
                          dims (ggml order: the fastest-varying first, so a
                          PyTorch ``(rows, cols)`` weight is ``[cols, rows]``),
                          ``u32`` ggml type, ``u64`` offset into the data
padding                   zeros up to a multiple of ``general.alignment`` (32)
tensor data               each tensor at its offset, padded to the alignment
========================  ====================================================

A string is a ``u64`` byte count and UTF-8 bytes, without a terminator; an
array is a ``u32`` element type, a ``u64`` count and the elements. Tensors
are stored as F32, F16, or in ggml's block formats Q8_0 and Q4_0, whose bytes
come from :mod:`book.quant.ggml` (Part III). :func:`loads` checks every count,
length and offset against the bytes that are really there, so a truncated
or corrupt file raises a ``ValueError`` naming the file, the byte offset and
what was expected. Given the same keys and tensors in the same order, the
bytes equal those of ``gguf.GGUFWriter`` (the writer of llama.cpp's
converters), and ``gguf.GGUFReader`` reads them back. Taught in p6-4.3.

>>> import torch
>>> raw = dumps({"general.name": "demo", "demo.sizes": [1, 2, 3]},
...             {"w": (torch.ones(2, 32), "Q8_0"), "b": (torch.zeros(3), "F32")})
>>> raw[:4], int.from_bytes(raw[4:8], "little")
(b'GGUF', 3)
>>> f = loads(raw)
>>> f.metadata["demo.sizes"], f.tensors["w"].dims, f.tensors["w"].nbytes   # dims in ggml order
([1, 2, 3], (32, 2), 68)
>>> dequantize(f.tensors["w"]).shape
torch.Size([2, 32])
>>> loads(raw[:-60], name="cut.gguf")
Traceback (most recent call last):
...
ValueError: cut.gguf: at byte 288: tensor 'b': expected 12 bytes of F32 data up to byte 300; the file ends at byte 260
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from book.quant import ggml

MAGIC = b"GGUF"
VERSION = 3
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4                                     #: GGML_MAX_DIMS

#: GGUF metadata value types (gguf.GGUFValueType)
VALUE_TYPES = {"UINT8": 0, "INT8": 1, "UINT16": 2, "INT16": 3, "UINT32": 4, "INT32": 5, "FLOAT32": 6,
               "BOOL": 7, "STRING": 8, "ARRAY": 9, "UINT64": 10, "INT64": 11, "FLOAT64": 12}
_VT_NAME = {v: k for k, v in VALUE_TYPES.items()}
_SCALAR = {"UINT8": "<B", "INT8": "<b", "UINT16": "<H", "INT16": "<h", "UINT32": "<I", "INT32": "<i",
           "FLOAT32": "<f", "BOOL": "<?", "UINT64": "<Q", "INT64": "<q", "FLOAT64": "<d"}

#: ggml tensor types this module writes: id, (values per block, bytes per block)
TENSOR_TYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q8_0": 8}
_TT_NAME = {v: k for k, v in TENSOR_TYPES.items()}
BLOCK = {"F32": (1, 4), "F16": (1, 2), "Q4_0": (ggml.QK, ggml.BLOCK_BYTES["q4_0"]),
         "Q8_0": (ggml.QK, ggml.BLOCK_BYTES["q8_0"])}


@dataclass(frozen=True)
class Typed:
    """A metadata value with an explicit GGUF type, e.g. ``Typed("UINT32", 32)`` or ``Typed("ARRAY", [..], "FLOAT32")``.

    Untyped Python values are typed the way the ``gguf`` package types them:
    bool → BOOL, int → INT32, float → FLOAT32, str → STRING, list → ARRAY.
    """

    type: str
    value: object
    item_type: str | None = None

    def __post_init__(self):
        if self.type not in VALUE_TYPES:
            raise ValueError(f"Typed.type must be one of {sorted(VALUE_TYPES)}, got {self.type!r}")
        if (self.type == "ARRAY") != (self.item_type is not None):
            raise ValueError("Typed.item_type is required for an ARRAY and only for one")
        if self.item_type is not None and self.item_type not in VALUE_TYPES:
            raise ValueError(f"Typed.item_type must be one of {sorted(VALUE_TYPES)}, got {self.item_type!r}")


def typed(value: object, key: str = "value") -> Typed:
    """The GGUF type a metadata value is written with (a :class:`Typed` passes through unchanged)."""
    if isinstance(value, Typed):
        return value
    if isinstance(value, bool):
        return Typed("BOOL", value)
    if isinstance(value, int):
        return Typed("INT32", value)
    if isinstance(value, float):
        return Typed("FLOAT32", value)
    if isinstance(value, str):
        return Typed("STRING", value)
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError(f"metadata[{key!r}]: an empty list has no element type; pass Typed('ARRAY', [], type)")
        items = [typed(v, key) for v in value]
        if len({t.type for t in items}) != 1 or items[0].type == "ARRAY":
            raise ValueError(f"metadata[{key!r}]: array elements must share one scalar or string type")
        return Typed("ARRAY", list(value), items[0].type)
    raise ValueError(f"metadata[{key!r}]: cannot store a {type(value).__name__} in GGUF")


def _string(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _value(vtype: str, value: object, key: str) -> bytes:
    try:
        if vtype == "STRING":
            return _string(value)
        return struct.pack(_SCALAR[vtype], value)
    except (struct.error, AttributeError, TypeError) as e:
        raise ValueError(f"metadata[{key!r}]: {value!r} is not a valid {vtype} ({e})") from None


def _encode(t: torch.Tensor, ttype: str, name: str) -> bytes:
    """A tensor's data in ggml type ``ttype``: rows along the last PyTorch dimension (ggml's ne[0])."""
    t = t.detach().cpu()
    if ttype == "F32":
        return t.float().contiguous().numpy().astype("<f4").tobytes()
    if ttype == "F16":
        return t.half().contiguous().numpy().astype("<f2").tobytes()
    width = t.shape[-1] if t.ndim else 1
    if width % ggml.QK:
        raise ValueError(f"tensor {name!r} has shape {tuple(t.shape)}: {ttype} needs its last dimension to be a "
                         f"multiple of {ggml.QK}")
    quantize = ggml.quantize_q8_0 if ttype == "Q8_0" else ggml.quantize_q4_0
    return quantize(t.float().reshape(-1, width)).numpy().tobytes()


def dumps(metadata: dict[str, object], tensors: dict[str, tuple[torch.Tensor, str]]) -> bytes:
    """Serialise metadata key-values and ``{name: (tensor, ggml type)}`` to GGUF v3 bytes."""
    metadata = dict(metadata)
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if isinstance(alignment, Typed):
        alignment = alignment.value
    if not (isinstance(alignment, int) and alignment > 0 and alignment & (alignment - 1) == 0):
        raise ValueError(f"metadata['general.alignment'] must be a power of two, got {alignment!r}")
    if "general.alignment" in metadata:
        metadata["general.alignment"] = Typed("UINT32", alignment)   # llama.cpp insists on UINT32
    out = [MAGIC, struct.pack("<IQQ", VERSION, len(tensors), len(metadata))]
    for key, raw_value in metadata.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"metadata keys must be non-empty strings, got {key!r}")
        v = typed(raw_value, key)
        out += [_string(key), struct.pack("<I", VALUE_TYPES[v.type])]
        if v.type == "ARRAY":
            out.append(struct.pack("<IQ", VALUE_TYPES[v.item_type], len(v.value)))
            out += [_value(v.item_type, item, key) for item in v.value]
        else:
            out.append(_value(v.type, v.value, key))
    datas, offset = [], 0
    for name, pair in tensors.items():
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], torch.Tensor)):
            raise ValueError(f"tensors[{name!r}] must be a (tensor, type) pair")
        t, ttype = pair
        if ttype not in TENSOR_TYPES:
            raise ValueError(f"tensors[{name!r}]: type must be one of {sorted(TENSOR_TYPES)}, got {ttype!r}")
        if not 1 <= max(t.ndim, 1) <= MAX_DIMS:
            raise ValueError(f"tensors[{name!r}] has {t.ndim} dimensions; GGUF allows 1 to {MAX_DIMS}")
        dims = tuple(reversed(t.shape)) or (1,)
        data = _encode(t, ttype, name)
        out += [_string(name), struct.pack("<I", len(dims)), struct.pack(f"<{len(dims)}Q", *dims),
                struct.pack("<IQ", TENSOR_TYPES[ttype], offset)]
        data += b"\0" * (-len(data) % alignment)
        datas.append(data)
        offset += len(data)
    head = b"".join(out)
    return head + b"\0" * (-len(head) % alignment) + b"".join(datas)


def write(path: str | Path, metadata: dict[str, object], tensors: dict[str, tuple[torch.Tensor, str]]) -> Path:
    """Write :func:`dumps` to ``path``; returns the path."""
    path = Path(path)
    path.write_bytes(dumps(metadata, tensors))
    return path


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a parsed file: its name, ggml dims, type, data offset (absolute) and raw bytes."""

    name: str
    dims: tuple[int, ...]
    type: str
    offset: int
    data: bytes = field(repr=False)

    @property
    def shape(self) -> tuple[int, ...]:
        """The PyTorch shape: the ggml dims reversed."""
        return tuple(reversed(self.dims))

    @property
    def nbytes(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class GGUFFile:
    """A parsed GGUF file: version, metadata (Python values), their GGUF types, tensors, alignment."""

    version: int
    metadata: dict[str, object]
    types: dict[str, str]
    tensors: dict[str, TensorInfo]
    alignment: int
    data_start: int


class _Cursor:
    """Reads little-endian fields from bytes; every read checks that the bytes exist."""

    def __init__(self, raw: bytes, name: str):
        self.raw, self.name, self.pos = raw, name, 0

    def fail(self, message: str, at: int | None = None) -> ValueError:
        return ValueError(f"{self.name}: at byte {self.pos if at is None else at}: {message}")

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.raw):
            raise self.fail(f"expected {what} ({n} bytes), but the file ends at byte {len(self.raw)}")
        b = self.raw[self.pos:self.pos + n]
        self.pos += n
        return b

    def unpack(self, fmt: str, what: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what: str) -> str:
        start = self.pos
        n = self.unpack("<Q", f"the byte count of {what}")
        if n > len(self.raw) - self.pos:
            raise self.fail(f"expected {what} of {n} bytes, but only {len(self.raw) - self.pos} bytes remain",
                            start)
        b = self.take(n, what)
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError as e:
            raise self.fail(f"expected UTF-8 text in {what}", start + 8 + e.start) from None

    def value(self, vtype: int, what: str, at: int):
        if vtype not in _VT_NAME or _VT_NAME[vtype] == "ARRAY":
            raise self.fail(f"expected a value type among {sorted(VALUE_TYPES.values())} for {what}, got {vtype}",
                            at)
        name = _VT_NAME[vtype]
        if name == "STRING":
            return self.string(what)
        return self.unpack(_SCALAR[name], f"{what} ({name})")


def loads(raw: bytes, name: str = "<bytes>") -> GGUFFile:
    """Parse GGUF v3 bytes, checking every field; ValueError naming the file, byte offset and reason."""
    c = _Cursor(bytes(raw), name)
    magic = c.take(4, "the magic b'GGUF'")
    if magic != MAGIC:
        raise c.fail(f"expected the magic {MAGIC!r}, got {magic!r}", 0)
    version = c.unpack("<I", "the version")
    if version != VERSION:
        raise c.fail(f"expected version {VERSION}, got {version}", 4)
    n_tensors = c.unpack("<Q", "the tensor count")
    n_kv = c.unpack("<Q", "the key-value count")
    # every key-value needs at least 8 + 4 + 1 bytes, every tensor info 8 + 4 + 8 + 4 + 8: a corrupt count
    # is caught here instead of after billions of iterations
    if n_kv * 13 + n_tensors * 32 > len(raw) - c.pos:
        raise c.fail(f"expected counts that fit the file, got {n_tensors} tensors and {n_kv} key-values "
                     f"for {len(raw) - c.pos} remaining bytes", 8)
    metadata: dict[str, object] = {}
    types: dict[str, str] = {}
    for _ in range(n_kv):
        start = c.pos
        key = c.string("a metadata key")
        if key in metadata:
            raise c.fail(f"expected unique metadata keys, got {key!r} twice", start)
        at = c.pos
        vtype = c.unpack("<I", f"the value type of {key!r}")
        if vtype == VALUE_TYPES["ARRAY"]:
            at = c.pos
            itype = c.unpack("<I", f"the element type of {key!r}")
            count = c.unpack("<Q", f"the length of {key!r}")
            if count > len(raw) - c.pos:
                raise c.fail(f"expected at most {len(raw) - c.pos} elements in {key!r}, got {count}", c.pos - 8)
            metadata[key] = [c.value(itype, f"element {i} of {key!r}", at) for i in range(count)]
            types[key] = f"ARRAY[{_VT_NAME.get(itype)}]"
        else:
            metadata[key] = c.value(vtype, f"the value of {key!r}", at)
            types[key] = _VT_NAME[vtype]
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if "general.alignment" in metadata and types["general.alignment"] != "UINT32":
        raise c.fail(f"expected general.alignment to be a UINT32, got {types['general.alignment']}")
    if alignment <= 0 or alignment & (alignment - 1):
        raise c.fail(f"expected general.alignment to be a power of two, got {alignment}")
    infos = []
    for _ in range(n_tensors):
        start = c.pos
        tname = c.string("a tensor name")
        n_dims = c.unpack("<I", f"the n_dims of tensor {tname!r}")
        if not 1 <= n_dims <= MAX_DIMS:
            raise c.fail(f"tensor {tname!r}: expected 1 to {MAX_DIMS} dimensions, got {n_dims}", c.pos - 4)
        dims = tuple(c.unpack("<Q", f"dimension {i} of tensor {tname!r}") for i in range(n_dims))
        at = c.pos
        ttype = c.unpack("<I", f"the type of tensor {tname!r}")
        if ttype not in _TT_NAME:
            raise c.fail(f"tensor {tname!r}: expected a ggml type among {sorted(TENSOR_TYPES.items())}, got {ttype}",
                         at)
        at = c.pos
        offset = c.unpack("<Q", f"the data offset of tensor {tname!r}")
        if offset % alignment:
            raise c.fail(f"tensor {tname!r}: expected a data offset that is a multiple of {alignment}, "
                         f"got {offset}", at)
        per_block, block_bytes = BLOCK[_TT_NAME[ttype]]
        if dims[0] % per_block:
            raise c.fail(f"tensor {tname!r}: expected its first ggml dimension to be a multiple of {per_block} "
                         f"for {_TT_NAME[ttype]}, got dims {list(dims)}", start)
        if any(i.name == tname for i in infos):
            raise c.fail(f"expected unique tensor names, got {tname!r} twice", start)
        infos.append(TensorInfo(tname, dims, _TT_NAME[ttype], offset, b""))
    data_start = c.pos + (-c.pos % alignment)
    tensors = {}
    for info in infos:
        per_block, block_bytes = BLOCK[info.type]
        nbytes = math.prod(info.dims) // per_block * block_bytes
        begin = data_start + info.offset
        if begin + nbytes > len(raw):
            raise c.fail(f"tensor {info.name!r}: expected {nbytes} bytes of {info.type} data up to byte "
                         f"{begin + nbytes}; the file ends at byte {len(raw)}", begin)
        tensors[info.name] = TensorInfo(info.name, info.dims, info.type, begin, c.raw[begin:begin + nbytes])
    return GGUFFile(version, metadata, types, tensors, alignment, data_start)


def read(path: str | Path) -> GGUFFile:
    """Read and check a GGUF file (see :func:`loads`)."""
    path = Path(path)
    return loads(path.read_bytes(), path.name)


def dequantize(info: TensorInfo) -> torch.Tensor:
    """A tensor's values as float32 in its PyTorch shape: F32 as is, F16 widened, Q8_0/Q4_0 decoded."""
    shape = info.shape
    if info.type in ("F32", "F16"):
        dtype = "<f4" if info.type == "F32" else "<f2"
        return torch.from_numpy(np.frombuffer(info.data, dtype=dtype).astype(np.float32)).reshape(shape)
    decode = ggml.dequantize_q8_0 if info.type == "Q8_0" else ggml.dequantize_q4_0
    blocks = torch.frombuffer(bytearray(info.data), dtype=torch.uint8).reshape(-1, BLOCK[info.type][1])
    return decode(blocks).reshape(shape)
