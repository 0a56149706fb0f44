"""book.formats.safetensors_io and book.formats.gguf_io: byte identity with the libraries, round trips, bad files."""

from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch
from gguf.quants import dequantize as gguf_dequantize
from hypothesis import given, settings
from hypothesis import strategies as st_
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from book.formats import gguf_io
from book.formats import safetensors_io as sio
from book.nn.gpt import GPT, GPTConfig
from book.quant import ggml


def _all_dtypes() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    out = {f"t_{name}": (3 * torch.randn(3, 5, generator=g)).to(dt) for name, dt in sio.DTYPES.items()}
    out["empty"] = torch.zeros(0, 4)
    out["scalar"] = torch.tensor(2.5)
    out["名前"] = torch.ones(2)
    return out


@pytest.mark.parametrize("metadata", [None, {}, {"config": '{"d": 1}'}, {"ü": "é\"\\"}])
def test_safetensors_bytes_identical_to_the_library(metadata):
    tensors = _all_dtypes()
    assert sio.dumps(tensors, metadata) == st_save(tensors, metadata=metadata)
    if metadata != {}:      # safetensors 0.8 writes no tensors and an empty {} as the invalid '{},"__metadata__":{}}'
        assert sio.dumps({}, metadata) == st_save({}, metadata=metadata)


def test_safetensors_several_metadata_keys_same_content():
    """The library keeps metadata in a hash map, so with several keys only the order may differ."""
    tensors, meta = {"a": torch.ones(3)}, {"x": "1", "y": "2", "z": "3"}
    ours, theirs = sio.dumps(tensors, meta), st_save(tensors, metadata=meta)
    assert len(ours) == len(theirs)
    assert sio.read_header(ours)[:2] == sio.read_header(theirs)[:2]


def test_safetensors_round_trip_both_ways(tmp_path):
    tensors = _all_dtypes()
    lib = st_load(sio.dumps(tensors, {"k": "v"}))
    ours, meta = sio.loads(st_save(tensors, metadata={"k": "v"}))
    assert meta == {"k": "v"} and set(lib) == set(ours) == set(tensors)
    for k, t in tensors.items():
        assert lib[k].dtype == ours[k].dtype == t.dtype and lib[k].shape == ours[k].shape == t.shape
        assert torch.equal(lib[k].float(), t.float()) and torch.equal(ours[k].float(), t.float())
    path = sio.write(tmp_path / "m.safetensors", {"w": torch.ones(2)})
    assert torch.equal(sio.read(path)[0]["w"], torch.ones(2))


def test_safetensors_tiny_gpt_identical():
    model = GPT(GPTConfig())
    state = {k: v for k, v in model.state_dict().items() if k != "head.weight"}     # tied to tok_emb
    assert sio.dumps(state, {"config": "tiny"}) == st_save(state, metadata={"config": "tiny"})


@pytest.mark.parametrize("cut", [0, 7, 8, 9, 60, -1])
def test_safetensors_truncated_rejected_with_offset(cut):
    raw = sio.dumps(_all_dtypes())
    with pytest.raises(ValueError, match=r"^f\.safetensors: at byte \d+: expected"):
        sio.loads(raw[:cut] if cut >= 0 else raw[:cut], "f.safetensors")


@pytest.mark.parametrize("where, value, reason", [
    (0, b"\xff" * 8, "header length below"),
    (9, b"\xff", "UTF-8"),
    (8, b"[", "valid JSON"),
])
def test_safetensors_corrupt_rejected(where, value, reason):
    raw = bytearray(sio.dumps({"a": torch.ones(4), "b": torch.zeros(2, dtype=torch.int64)}))
    raw[where:where + len(value)] = value
    with pytest.raises(ValueError, match=reason):
        sio.loads(bytes(raw), "f.safetensors")


def test_safetensors_bad_offsets_and_dtype():
    raw = sio.dumps({"a": torch.ones(4), "b": torch.ones(4)})
    for old, new, reason in [(b'"F32"', b'"F99"', "dtypes"), (b"[0,16]", b"[0,12]", "expected 16 bytes"),
                             (b"[16,32]", b"[17,33]", "start at data offset 16")]:
        bad = raw.replace(old, new, 1)
        with pytest.raises(ValueError, match=reason):
            sio.loads(bad, "f.safetensors")
    with pytest.raises(ValueError, match="trailing bytes"):
        sio.loads(raw + b"\0", "f.safetensors")
    with pytest.raises(ValueError, match="cannot store"):
        sio.dumps({"c": torch.ones(2, dtype=torch.complex64)})


@settings(max_examples=25, deadline=None)
@given(st_.dictionaries(st_.text(min_size=1, max_size=8).filter(lambda s: s != "__metadata__"),
                        st_.tuples(st_.lists(st_.integers(0, 4), max_size=3), st_.sampled_from(list(sio.DTYPES))),
                        max_size=4))
def test_safetensors_property_identical(spec):
    tensors = {k: torch.zeros(shape, dtype=sio.DTYPES[dt]) for k, (shape, dt) in spec.items()}
    assert sio.dumps(tensors) == st_save(tensors)


# ------------------------------------------------------------------ GGUF
def _gguf_file(tmp_path):
    g = torch.Generator().manual_seed(1)
    tensors = {"q8": (torch.randn(3, 64, generator=g), "Q8_0"), "q4": (torch.randn(5, 2, 32, generator=g), "Q4_0"),
               "f32": (torch.randn(7, generator=g), "F32"), "f16": (torch.randn(3, 3, generator=g), "F16")}
    metadata = {"general.architecture": "test", "general.alignment": gguf_io.Typed("UINT32", 64),
                "t.strings": ["a", "bé"], "t.floats": [1.5, 2.0], "t.flag": True, "t.i": -3,
                "t.u64": gguf_io.Typed("UINT64", 2 ** 40), "t.f64": gguf_io.Typed("FLOAT64", 0.1)}
    return gguf_io.write(tmp_path / "t.gguf", metadata, tensors), metadata, tensors


def test_gguf_read_by_llama_cpp_reader(tmp_path):
    path, metadata, tensors = _gguf_file(tmp_path)
    reader = gguf.GGUFReader(path)
    assert reader.alignment == 64
    for key, value in metadata.items():
        want = value.value if isinstance(value, gguf_io.Typed) else value
        assert reader.fields[key].contents() == pytest.approx(want)
    mine = gguf_io.read(path)
    assert [t.name for t in reader.tensors] == list(tensors)
    for rt in reader.tensors:
        t, ttype = tensors[rt.name]
        assert rt.tensor_type.name == ttype
        assert tuple(int(d) for d in rt.shape) == tuple(reversed(t.shape)) == mine.tensors[rt.name].dims
        assert rt.data_offset == mine.tensors[rt.name].offset and rt.n_bytes == mine.tensors[rt.name].nbytes
        theirs = torch.from_numpy(np.array(gguf_dequantize(rt.data, rt.tensor_type), dtype=np.float32))
        assert torch.equal(theirs, gguf_io.dequantize(mine.tensors[rt.name]))
    assert torch.equal(gguf_io.dequantize(mine.tensors["q8"]),
                       ggml.dequantize_q8_0(ggml.quantize_q8_0(tensors["q8"][0])))
    assert torch.equal(gguf_io.dequantize(mine.tensors["f32"]), tensors["f32"][0])


def test_gguf_data_matches_gguf_quantize(tmp_path):
    path, _, tensors = _gguf_file(tmp_path)
    f = gguf_io.read(path)
    for name in ("q8", "q4"):
        t, ttype = tensors[name]
        ref = gguf.quants.quantize(t.numpy(), gguf.GGMLQuantizationType[ttype])
        assert f.tensors[name].data == ref.tobytes()


@pytest.mark.parametrize("cut", [0, 3, 6, 20, 40, 200, -64 + 17])
def test_gguf_truncated_rejected_with_offset(tmp_path, cut):
    """Cuts in the header, the key-values, the tensor infos and the last tensor's 18 bytes (the padding after
    the last tensor may be missing: llama.cpp's reader does not need it either)."""
    raw = _gguf_file(tmp_path)[0].read_bytes()
    with pytest.raises(ValueError, match=r"^t\.gguf: at byte \d+: "):
        gguf_io.loads(raw[:cut], "t.gguf")


def test_gguf_corrupt_rejected(tmp_path):
    raw = _gguf_file(tmp_path)[0].read_bytes()
    for at, value, reason in [(0, b"GGML", "magic"), (4, b"\x02", "version 3"), (8, b"\xff" * 8, "counts that fit")]:
        bad = bytearray(raw)
        bad[at:at + len(value)] = value
        with pytest.raises(ValueError, match=reason):
            gguf_io.loads(bytes(bad), "t.gguf")
    key = raw.index(b"general.architecture") + len(b"general.architecture")
    bad = bytearray(raw)
    bad[key:key + 4] = (99).to_bytes(4, "little")
    with pytest.raises(ValueError, match=f"at byte {key}: expected a value type"):
        gguf_io.loads(bytes(bad), "t.gguf")


def test_gguf_writer_validates():
    with pytest.raises(ValueError, match="multiple of 32"):
        gguf_io.dumps({}, {"w": (torch.ones(2, 48), "Q4_0")})
    with pytest.raises(ValueError, match="type must be one of"):
        gguf_io.dumps({}, {"w": (torch.ones(2, 32), "Q5_K")})
    with pytest.raises(ValueError, match="power of two"):
        gguf_io.dumps({"general.alignment": 24}, {})
    with pytest.raises(ValueError, match="empty list"):
        gguf_io.dumps({"k": []}, {})


def _with_gguf_writer(path, metadata, tensors):
    """The same file written by the gguf package's own GGUFWriter."""
    w = gguf.GGUFWriter(str(path), metadata["general.architecture"])
    for key, value in metadata.items():
        if key == "general.architecture":
            continue
        t = gguf_io.typed(value, key)
        sub = gguf.GGUFValueType[t.item_type] if t.item_type else None
        w.add_key_value(key, t.value, gguf.GGUFValueType[t.type], sub)
    for name, (tensor, ttype) in tensors.items():
        arr = tensor.float().numpy()
        if ttype in ("F32", "F16"):
            w.add_tensor(name, arr.astype(np.float16 if ttype == "F16" else np.float32))
        else:
            q = gguf.GGMLQuantizationType[ttype]
            w.add_tensor(name, gguf.quants.quantize(arr, q), raw_dtype=q)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path.read_bytes()


def test_gguf_bytes_identical_to_gguf_writer(tmp_path):
    model = GPT(GPTConfig())
    tensors = {k: (v, "F32" if v.ndim == 1 else ("Q8_0" if "attn" in k else ("F16" if "emb" in k else "Q4_0")))
               for k, v in model.state_dict().items() if k != "head.weight"}
    metadata = {"general.architecture": "book-gpt", "general.name": "tiny", "book-gpt.block_count":
                gguf_io.Typed("UINT32", 2), "book-gpt.eps": gguf_io.Typed("FLOAT32", 1e-5),
                "book-gpt.tied": True, "tokenizer.ggml.tokens": [chr(65 + i) for i in range(64)]}
    assert gguf_io.dumps(metadata, tensors) == _with_gguf_writer(tmp_path / "ref.gguf", metadata, tensors)
