"""Exercise checkers for p4-5 (the transformer encoder–decoder recipe).

References: :func:`book.nn.seq2seq.shift_right` and :func:`book.nn.seq2seq.append_eos`
for the teacher-forcing pairs; ``nn.MultiheadAttention``'s own output for the
split of ``in_proj_weight``; a Python loop over rows for exact-sequence
accuracy. Inputs include a full-length target, a batch of one, padded keys and
junk after EOS.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from book.exercises import passed
from book.nn.seq2seq import BOS, EOS, PAD, append_eos, shift_right


def _tf_cases() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    ragged = torch.randint(3, 13, (5, 6), generator=g)
    ragged[torch.arange(6)[None, :] >= torch.tensor([[1], [3], [6], [2], [4]])] = PAD
    return [ragged,
            torch.tensor([[7, 8, 9]]),                     # a batch of one, as long as T: EOS in the new column
            torch.tensor([[5, PAD, PAD], [5, 6, PAD]])]


def check_teacher_forcing(fn: Callable[[torch.Tensor, int, int, int], tuple[torch.Tensor, torch.Tensor]]) -> None:
    """``fn(tgt, bos, eos, pad)`` -> (decoder input, labels), both (B, T + 1), for right-padded ``tgt`` (B, T)."""
    cases = _tf_cases()
    for tgt in cases:
        got = fn(tgt.clone(), BOS, EOS, PAD)
        if not (isinstance(got, tuple) and len(got) == 2):
            raise AssertionError("return a pair (decoder_input, labels)")
        dec, lab = got
        want_dec, want_lab = shift_right(tgt), append_eos(tgt)
        B, T = tgt.shape
        for name, t in (("decoder input", dec), ("labels", lab)):
            if not isinstance(t, torch.Tensor) or tuple(t.shape) != (B, T + 1):
                raise AssertionError(f"the {name} must be a ({B}, {T + 1}) tensor for targets of shape ({B}, {T}), "
                                     f"got shape {tuple(getattr(t, 'shape', ()))}")
        if torch.equal(dec, want_lab) and torch.equal(lab, want_dec):
            raise AssertionError("decoder input and labels are swapped: the input starts with BOS, "
                                 "the labels end with EOS")
        if not torch.equal(dec, want_dec):
            if torch.equal(dec[:, 1:], tgt) and not (dec[:, 0] == BOS).all():
                hint = "the first decoder input must be BOS"
            else:
                hint = "the decoder input is BOS followed by the target, shifted right by one"
            raise AssertionError(f"decoder input for targets {tgt.tolist()}: expected {want_dec.tolist()}, "
                                 f"got {dec.tolist()}: {hint}")
        if not torch.equal(lab, want_lab):
            if (lab[:, -1] == EOS).all() and not (want_lab[:, -1] == EOS).all():
                hint = "EOS goes right after each target's last real token, not in the last column"
            elif not (lab == EOS).any(1).all():
                hint = "every label row needs one EOS, after its last real token"
            else:
                hint = "the labels are the target followed by EOS, then PAD"
            raise AssertionError(f"labels for targets {tgt.tolist()}: expected {want_lab.tolist()}, "
                                 f"got {lab.tolist()}: {hint}")
    passed(f"teacher-forcing pairs equal the reference on {len(cases)} batches, a full-length target included")


def check_split_qkv(fn: Callable[[nn.MultiheadAttention], tuple[torch.Tensor, ...]]) -> None:
    """``fn(mha)`` -> (w_q, w_k, w_v, b_q, b_k, b_v), each (d, d) or (d,), as used in ``x @ w.T + b``."""
    torch.manual_seed(0)
    d, h = 12, 3
    mha = nn.MultiheadAttention(d, h, batch_first=True).eval()
    with torch.no_grad():
        mha.in_proj_bias.normal_()                          # PyTorch starts it at zero: make the split visible
    got = fn(mha)
    if not (isinstance(got, tuple) and len(got) == 6):
        raise AssertionError("return six tensors: (w_q, w_k, w_v, b_q, b_k, b_v)")
    w_q, w_k, w_v, b_q, b_k, b_v = (t.detach() for t in got)
    if any(tuple(w.shape) != (d, d) for w in (w_q, w_k, w_v)) or any(tuple(b.shape) != (d,) for b in (b_q, b_k, b_v)):
        raise AssertionError(f"for embed_dim={d} the weights must be ({d}, {d}) and the biases ({d},), got "
                             f"{[tuple(t.shape) for t in got]}: split in_proj_weight along dimension 0")
    x = torch.randn(2, 5, d)                               # queries from one sequence…
    ctx = torch.randn(2, 7, d)                             # …keys and values from another: cross-attention
    pad = torch.tensor([[False] * 7, [False] * 4 + [True] * 3])
    with torch.no_grad():
        want, _ = mha(x, ctx, ctx, key_padding_mask=pad)
        heads = lambda t: t.view(2, -1, h, d // h).transpose(1, 2)
        q, k, v = heads(x @ w_q.T + b_q), heads(ctx @ w_k.T + b_k), heads(ctx @ w_v.T + b_v)
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=~pad[:, None, None, :])
        mine = mha.out_proj(o.transpose(1, 2).reshape(2, 5, d))
    if torch.allclose(mine, want, atol=1e-5):
        passed("queries, keys and values from your split reproduce nn.MultiheadAttention on a padded cross-attention")
        return
    W = mha.in_proj_weight.detach()
    blocks = list(W.chunk(3))
    if all(torch.equal(w, b) for w, b in zip((w_q, w_k, w_v), blocks)):
        hint = "the weights are right; check the biases: in_proj_bias splits into b_q, b_k, b_v like the weights"
    elif any(torch.equal(w, b.T) for w, b in zip((w_q, w_k, w_v), blocks)):
        hint = "your blocks are transposed: in_proj_weight is used as x @ W.T, keep the rows"
    elif all(any(torch.equal(w, b) for b in blocks) for w in (w_q, w_k, w_v)):
        hint = "the blocks are in the wrong order: in_proj_weight stacks W_q, then W_k, then W_v"
    elif any(torch.equal(w, b) for w in (w_q, w_k, w_v) for b in W.chunk(3, dim=1)):
        hint = "split along dimension 0 (rows), not dimension 1"
    else:
        hint = "w_q, w_k, w_v are the three (d, d) row blocks of in_proj_weight, in that order"
    raise AssertionError(f"attention rebuilt from your tensors differs from the module's by "
                         f"{(mine - want).abs().max().item():.3g}: {hint}")


def _exact_reference(pred: torch.Tensor, labels: torch.Tensor, eos: int) -> float:
    right = 0
    for p, lab in zip(pred.tolist(), labels.tolist()):
        end = lab.index(eos) + 1 if eos in lab else len(lab)
        right += p[:end] == lab[:end]
    return right / len(labels)


def check_exact_match(fn: Callable[[torch.Tensor, torch.Tensor, int], float]) -> None:
    """``fn(pred, labels, eos)`` -> fraction of rows right up to and including the label's EOS."""
    e, p = EOS, PAD
    labels = torch.tensor([[3, 4, e, p, p], [5, 5, 6, e, p], [3, e, p, p, p], [7, 8, 9, 9, e]])
    pred = torch.tensor([[3, 4, e, 9, 9],      # right, junk after EOS
                         [5, 5, 6, 7, e],      # EOS missing where the label has it
                         [3, e, p, p, p],      # right, row equal
                         [7, 8, 9, 9, e]])     # right, full length
    g = torch.Generator().manual_seed(0)
    big_lab = append_eos(torch.randint(3, 13, (200, 6), generator=g))
    big_pred = torch.where(torch.rand(200, 7, generator=g) < 0.03, torch.randint(3, 13, (200, 7), generator=g),
                           big_lab)
    big_pred[:, -1] = 4                         # junk in the column after every EOS
    for pr, lab in ((pred, labels), (big_pred, big_lab)):
        want = _exact_reference(pr, lab, e)
        got = float(fn(pr.clone(), lab.clone(), e))
        if abs(got - want) < 1e-9:
            continue
        whole_rows = (pr == lab).all(1).float().mean().item()
        tokens = (pr == lab)[lab != p].float().mean().item()
        if abs(got - whole_rows) < 1e-9:
            hint = "you compared whole rows: tokens after the label's EOS must not count"
        elif abs(got - tokens) < 1e-9:
            hint = "that is token accuracy: a row counts only if all its tokens up to EOS are right"
        else:
            hint = "count a row if every position up to and including the label's EOS matches"
        raise AssertionError(f"exact_match returned {got:.4f}, expected {want:.4f}: {hint}")
    passed("exact-sequence accuracy equals a row-by-row reference, with junk after EOS ignored")
