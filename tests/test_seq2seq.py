"""book.nn.seq2seq: the sorting task against Python's sorted(), the masks by their effects, the checks."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from book.nn.seq2seq import (
    BOS,
    DIGIT0,
    EOS,
    PAD,
    VOCAB_SIZE,
    Seq2SeqConfig,
    Seq2SeqTransformer,
    append_eos,
    decode_digits,
    shift_right,
    sorting_task,
)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return Seq2SeqTransformer(Seq2SeqConfig(d_model=32, n_head=4, d_ff=48)).eval()


def test_sorting_task_matches_sorted_and_pads_right():
    src, tgt = sorting_task(300, 1, 7, seed=3)
    assert src.shape == tgt.shape == (300, 7)
    lengths = (src != PAD).sum(1)
    assert lengths.min() == 1 and lengths.max() == 7
    for s, t, n in zip(src, tgt, lengths):
        assert (s[n:] == PAD).all() and (s[:n] != PAD).all()
        assert decode_digits(t) == "".join(sorted(decode_digits(s)))
    assert torch.equal(sorting_task(5, 2, 4, seed=1)[0], sorting_task(5, 2, 4, seed=1)[0])
    with pytest.raises(ValueError, match="min_len"):
        sorting_task(5, 4, 2)


def test_shift_right_and_append_eos():
    tgt = torch.tensor([[5, 6, PAD], [7, 8, 9]])
    assert shift_right(tgt).tolist() == [[BOS, 5, 6, PAD], [BOS, 7, 8, 9]]
    assert append_eos(tgt).tolist() == [[5, 6, EOS, PAD], [7, 8, 9, EOS]]
    assert decode_digits(torch.tensor([BOS, 3, 12, EOS, 5])) == "09"


def test_padding_does_not_change_outputs(model):
    src, tgt = sorting_task(6, 2, 5, seed=0)
    tin = shift_right(tgt)
    with torch.no_grad():
        base = model(src, tin)
        padded = model(F.pad(src, (0, 4), value=PAD), F.pad(tin, (0, 3), value=PAD))
    torch.testing.assert_close(padded[:, : tin.shape[1]], base, atol=1e-5, rtol=1e-5)


def test_causal_mask_hides_the_future(model):
    src, tgt = sorting_task(4, 5, 5, seed=1)
    tin = shift_right(tgt)
    changed = tin.clone()
    changed[:, 3:] = DIGIT0 + 9 - (changed[:, 3:] - DIGIT0)      # other tokens from position 3 on
    with torch.no_grad():
        a, b = model(src, tin), model(src, changed)
    torch.testing.assert_close(a[:, :3], b[:, :3], atol=1e-5, rtol=1e-5)
    assert (a[:, 3:] - b[:, 3:]).abs().max() > 1e-3


def test_greedy_decode_equals_argmax_of_forward(model):
    src, _ = sorting_task(8, 2, 6, seed=2)
    out = model.greedy_decode(src, max_new_tokens=7)
    assert out.shape == (8, 7)
    for b in range(8):
        seq = [BOS]
        for _ in range(7):
            nxt = model(src[b : b + 1], torch.tensor([seq]))[0, -1].argmax().item()
            seq.append(nxt)
            if nxt == EOS:
                break
        want = seq[1:] + [PAD] * (8 - len(seq))
        assert out[b].tolist() == want


def test_trains_to_sort_a_small_set():
    torch.manual_seed(0)
    model = Seq2SeqTransformer(Seq2SeqConfig(d_model=32, n_head=2, n_encoder_layers=1, n_decoder_layers=1, d_ff=64))
    src, tgt = sorting_task(16, 3, 3, seed=0)
    tin, lab = shift_right(tgt), append_eos(tgt)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        loss = F.cross_entropy(model(src, tin).flatten(0, 1), lab.flatten(), ignore_index=PAD)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    assert (model.greedy_decode(src, 4)[:, :4] == lab[:, :4]).all(1).float().mean() >= 0.9


def test_bad_inputs_are_named(model):
    tin = torch.tensor([[BOS]])
    with pytest.raises(ValueError, match=r"src holds token id 13, outside the vocabulary \[0, 13\)"):
        model(torch.tensor([[3, VOCAB_SIZE]]), tin)
    with pytest.raises(ValueError, match=r"src must be a \(batch, length\) int64 tensor.*\(4,\)"):
        model(torch.tensor([3, 4, 5, 6]), tin)
    with pytest.raises(ValueError, match="float32"):
        model(torch.ones(1, 3), tin)
    with pytest.raises(ValueError, match="tgt_in has length 33, beyond max_len=32"):
        model(torch.tensor([[3]]), torch.ones(1, 33, dtype=torch.long))
    with pytest.raises(ValueError, match="non-PAD"):
        model(torch.tensor([[PAD, PAD]]), tin)
    with pytest.raises(ValueError, match="batch"):
        model(torch.tensor([[3], [4]]), tin)
    with pytest.raises(ValueError, match="max_new_tokens"):
        model.greedy_decode(torch.tensor([[3]]), 0)
    with pytest.raises(ValueError, match="divisible"):
        Seq2SeqConfig(d_model=30, n_head=4)
    with pytest.raises(ValueError, match="distinct"):
        Seq2SeqConfig(bos_id=0)
