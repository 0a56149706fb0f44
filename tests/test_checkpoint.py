"""book.formats.checkpoint: round trips through the safetensors library, tied weights, and refusals."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from book.formats import checkpoint
from book.nn.gpt import GPT, GPTConfig


def _gpt(seed: int, **changes) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=23, block_size=16, n_layer=2, n_head=2, d_model=16, **changes)).eval()


def test_round_trip_into_a_fresh_model_keeps_outputs_and_ties(tmp_path):
    model, fresh = _gpt(0), _gpt(1)
    path = checkpoint.save(model, tmp_path / "gpt.safetensors", {"steps": "12"})
    x = torch.randint(0, 23, (3, 9))
    assert not torch.equal(model(x)[0], fresh(x)[0])
    assert checkpoint.read_metadata(path) == {"steps": "12"}       # the alias record stays internal
    assert checkpoint.load(fresh, path) == {"steps": "12"}
    assert torch.equal(model(x)[0], fresh(x)[0])
    tied = [n for n, t in model.state_dict().items() if t.data_ptr() == model.state_dict()["head.weight"].data_ptr()]
    assert len(tied) == 2, tied                               # the GPT ties its embedding and head
    assert fresh.head.weight.data_ptr() == fresh.state_dict()[tied[0]].data_ptr()
    # The file is plain safetensors: the library reads it, each tied tensor stored once.
    stored = load_file(str(path))
    assert len(stored) == len(model.state_dict()) - 1
    for name, t in stored.items():
        assert torch.equal(t, model.state_dict()[name])


def test_untied_model_stores_every_tensor(tmp_path):
    model = _gpt(0, tie_embeddings=False)
    path = checkpoint.save(model, tmp_path / "gpt.safetensors")
    assert set(load_file(str(path))) == set(model.state_dict())


def test_mismatches_name_the_tensor_and_both_shapes(tmp_path):
    path = checkpoint.save(_gpt(0), tmp_path / "gpt.safetensors")
    with pytest.raises(ValueError, match=r"'pos_emb.weight' has shape \(16, 16\) in the file but \(32, 16\)"):
        checkpoint.load(GPT(GPTConfig(vocab_size=23, block_size=32, n_layer=2, n_head=2, d_model=16)), path)
    with pytest.raises(ValueError, match=r"unexpected \['blocks.1"):
        checkpoint.load(GPT(GPTConfig(vocab_size=23, block_size=16, n_layer=1, n_head=2, d_model=16)), path)
    with pytest.raises(ValueError, match="is torch.float32 in the file but torch.float64"):
        checkpoint.load(_gpt(0).double(), path)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        checkpoint.load(_gpt(0), tmp_path / "absent.safetensors")


def test_bad_save_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="must end in .safetensors"):
        checkpoint.save(nn.Linear(2, 2), tmp_path / "model.pt")
    with pytest.raises(ValueError, match="strings to strings"):
        checkpoint.save(nn.Linear(2, 2), tmp_path / "m.safetensors", {"steps": 3})
    with pytest.raises(ValueError, match="reserved"):
        checkpoint.save(nn.Linear(2, 2), tmp_path / "m.safetensors", {"book.aliases": "{}"})
