"""The Part III §I-b exercise checkers accept correct answers and reject wrong ones."""

from __future__ import annotations

import math

import pytest
import torch

from book.exercises.part3_efficiency import ch01b_flash_attention as ex


def _sliding(q, k, v, window, block_q, block_k):
    """Tiled sliding-window attention with the online softmax (the exercise's model answer)."""
    n, d = q.shape[-2], q.shape[-1]
    out = torch.empty_like(q)
    for i0 in range(0, n, block_q):
        i1 = min(i0 + block_q, n)
        rows = torch.arange(i0, i1)
        m = torch.full(q.shape[:-2] + (i1 - i0,), float("-inf"), dtype=q.dtype)
        l = torch.zeros_like(m)
        acc = torch.zeros(q.shape[:-2] + (i1 - i0, d), dtype=q.dtype)
        lo = max(0, i0 - window + 1) // block_k * block_k
        for j0 in range(lo, i1, block_k):
            cols = torch.arange(j0, min(j0 + block_k, n))
            s = q[..., i0:i1, :] @ k[..., cols, :].transpose(-2, -1) / math.sqrt(d)
            keep = (cols[None, :] <= rows[:, None]) & (cols[None, :] > rows[:, None] - window)
            s = s.masked_fill(~keep, float("-inf"))
            m_new = torch.maximum(m, s.amax(-1))
            m_safe = m_new.masked_fill(m_new == float("-inf"), 0.0)   # rows that have seen only masked keys
            p = torch.exp(s - m_safe[..., None])
            alpha = torch.exp(m - m_safe)
            l = l * alpha + p.sum(-1)
            acc = acc * alpha[..., None] + p @ v[..., cols, :]
            m = m_new
        out[..., i0:i1, :] = acc / l[..., None]
    return out


def _merge(o_a, lse_a, o_b, lse_b):
    lse = torch.logaddexp(lse_a, lse_b)
    return torch.exp(lse_a - lse)[..., None] * o_a + torch.exp(lse_b - lse)[..., None] * o_b, lse


def _backward(q, k, v, o, do, lse, causal, block):
    n, d = q.shape
    scale = 1 / math.sqrt(d)
    delta = (do * o).sum(-1)
    dq, dk, dv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
    for j0 in range(0, n, block):
        cols = torch.arange(j0, min(j0 + block, n))
        s = q @ k[cols].T * scale                                  # (T, block)
        p = torch.exp(s - lse[:, None])
        if causal:
            p = p.masked_fill(cols[None, :] > torch.arange(n)[:, None], 0.0)
        dv[cols] = p.T @ do
        ds = p * (do @ v[cols].T - delta[:, None])
        dq += ds @ k[cols] * scale
        dk[cols] = ds.T @ q * scale
    return dq, dk, dv


def _dense_backward(q, k, v, o, do, lse, causal, block):
    """Right values, but it builds the whole T×T matrix: the checker must refuse it."""
    qq, kk, vv = (t.clone().requires_grad_() for t in (q, k, v))
    with torch.enable_grad():
        _, _, dq, dk, dv = ex.attention_grads_reference(qq, kk, vv, do, causal)
    return dq, dk, dv


def test_checkers_accept_correct_answers(capsys):
    ex.check_sliding_window(_sliding)
    ex.check_merge_states(_merge)
    ex.check_blockwise_backward(_backward)
    assert capsys.readouterr().out.count("✓") == 3


def test_checkers_reject_wrong_answers():
    with pytest.raises(AssertionError, match="Hint"):                       # window one key too wide
        ex.check_sliding_window(lambda q, k, v, w, bq, bk: _sliding(q, k, v, w + 1, bq, bk))
    with pytest.raises(AssertionError, match="shape"):
        ex.check_sliding_window(lambda q, k, v, w, bq, bk: _sliding(q, k, v, w, bq, bk)[..., :1, :])
    with pytest.raises(AssertionError, match="Hint"):                       # averages instead of weighting
        ex.check_merge_states(lambda o_a, l_a, o_b, l_b: ((o_a + o_b) / 2, torch.logaddexp(l_a, l_b)))
    with pytest.raises(AssertionError, match="Hint"):                       # keeps the larger lse only
        ex.check_merge_states(lambda o_a, l_a, o_b, l_b: (_merge(o_a, l_a, o_b, l_b)[0], torch.maximum(l_a, l_b)))
    with pytest.raises(AssertionError, match="pair"):
        ex.check_merge_states(lambda o_a, l_a, o_b, l_b: o_a)

    def no_delta(q, k, v, o, do, lse, causal, block):                        # forgets Δ in dS
        return _backward(q, k, v, torch.zeros_like(o), do, lse, causal, block)
    with pytest.raises(AssertionError, match="Hint"):
        ex.check_blockwise_backward(no_delta)
    with pytest.raises(AssertionError, match="never the whole score matrix"):
        ex.check_blockwise_backward(_dense_backward)
