"""Exercise checkers for Part I, chapter 6 (attention and the transformer)."""

from __future__ import annotations

from typing import Callable

import torch
from torch.nn import functional as F

from book.checks import assert_close
from book.exercises import passed
from book.nn.gpt import Block, GPTConfig


def _positions(n_positions: int, dim: int, base: float = 10000.0) -> torch.Tensor:
    """Sinusoidal encodings in float64: PE[p, 2i] = sin(p ω_i), PE[p, 2i+1] = cos(p ω_i), ω_i = base^(-2i/dim)."""
    p = torch.arange(n_positions, dtype=torch.float64)[:, None]
    omega = base ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    pe = torch.zeros(n_positions, dim, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(p * omega)
    pe[:, 1::2] = torch.cos(p * omega)
    return pe


def _with_hint(check: Callable[[], object], hint: str) -> None:
    try:
        check()
    except AssertionError as e:
        raise AssertionError(f"{e}. Hint: {hint}") from None


def check_shift_matrix(fn: Callable[[int, int], object]) -> None:
    """``fn(k, dim)`` must return M_k (dim, dim) with PE[p + k] = M_k @ PE[p] for every position p."""
    n = 80
    for dim in (2, 6, 8, 32):
        pe = _positions(n, dim)
        for k in (0, 1, 5, -3, 40):
            M = torch.as_tensor(fn(k, dim), dtype=torch.float64)
            assert M.shape == (dim, dim), f"shift_matrix({k}, {dim}) must have shape ({dim}, {dim}), got {tuple(M.shape)}"
            p = torch.arange(max(0, -k), min(n, n - k))        # positions with p and p + k in the table
            _with_hint(lambda: assert_close(pe[p] @ M.T, pe[p + k], rtol=1e-9, atol=1e-9,
                                            name=f"M_k PE[p] vs PE[p + k] for k={k}, dim={dim}"),
                       "M_k is block diagonal; block i maps (sin ω_i p, cos ω_i p) to "
                       "(sin ω_i (p+k), cos ω_i (p+k)) by the angle-addition formulas, with ω_i = 10000^(-2i/dim)")
    passed("PE[p + k] = M_k PE[p] for 5 offsets (a negative one included) and 4 widths")


def padded_attention_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                               lengths: torch.Tensor) -> torch.Tensor:
    """PyTorch's attention with a key-padding mask: key j of example b is real iff j < lengths[b]."""
    keep = torch.arange(k.shape[-2])[None, :] < lengths[:, None]             # (B, S)
    mask = keep[:, None, :].expand(q.shape[0], q.shape[1], k.shape[1])       # (B, T, S)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def check_padded_attention(fn: Callable[..., torch.Tensor]) -> None:
    """``fn(q, k, v, lengths)`` must attend only to the first ``lengths[b]`` keys of example b."""
    g = torch.Generator().manual_seed(6)
    cases = [  # (B, T, S, d, dv, lengths)
        (4, 5, 7, 3, 2, [1, 7, 3, 6]),
        (1, 1, 1, 4, 4, [1]),
        (3, 9, 4, 16, 5, [4, 2, 1]),
    ]
    for B, T, S, d, dv, lengths in cases:
        q = torch.randn(B, T, d, generator=g, dtype=torch.float64)
        k = torch.randn(B, S, d, generator=g, dtype=torch.float64)
        v = torch.randn(B, S, dv, generator=g, dtype=torch.float64)
        lengths = torch.tensor(lengths)
        for b, n in enumerate(lengths.tolist()):     # garbage in the padding: it must not matter
            k[b, n:] = 1e3
            v[b, n:] = 1e6
        got = fn(q.clone(), k.clone(), v.clone(), lengths.clone())
        assert isinstance(got, torch.Tensor), f"return a tensor, got {type(got).__name__}"
        assert got.shape == (B, T, dv), f"output must have shape {(B, T, dv)}, got {tuple(got.shape)}"
        want = padded_attention_reference(q, k, v, lengths)
        _with_hint(lambda: assert_close(got, want, rtol=1e-10, atol=1e-10,
                                        name=f"B={B}, T={T}, S={S}, lengths={lengths.tolist()}"),
                   "mask the scores of padded keys with -inf before the softmax, so that each row "
                   "renormalises over the real keys only")
    passed("padded attention = PyTorch with a key-padding mask on 3 batches (length 1 and full length included)")


def post_norm_reference(blk: Block, x: torch.Tensor) -> torch.Tensor:
    """The original (post-norm) transformer block built from a package Block's modules."""
    h = blk.norm1(x + blk.attn(x))
    return blk.norm2(h + blk.mlp(h))


def check_post_norm_block(fn: Callable[[Block, torch.Tensor], torch.Tensor]) -> None:
    """``fn(blk, x)`` must compute LN2(h + MLP(h)) with h = LN1(x + MHA(x))."""
    with torch.random.fork_rng():                 # leave the reader's random state alone
        torch.manual_seed(6)
        blk = Block(GPTConfig(d_model=24, n_head=3, block_size=16)).double()
        with torch.no_grad():                     # non-trivial norms, so that their order shows
            for norm in (blk.norm1, blk.norm2):
                norm.weight.copy_(1 + 0.3 * torch.randn(24, dtype=torch.float64))
                norm.bias.copy_(0.3 * torch.randn(24, dtype=torch.float64))
        xs = [3 * torch.randn(2, 9, 24, dtype=torch.float64) + 1, torch.randn(1, 1, 24, dtype=torch.float64)]
    for x in xs:
        with torch.no_grad():
            got = fn(blk, x.clone())
            want = post_norm_reference(blk, x)
        assert got.shape == x.shape, f"the block must keep the shape {tuple(x.shape)}, got {tuple(got.shape)}"
        _with_hint(lambda: assert_close(got, want, rtol=1e-10, atol=1e-10, name=f"x of shape {tuple(x.shape)}"),
                   "post-norm applies the norm after the residual addition: h = norm1(x + attn(x)), "
                   "y = norm2(h + mlp(h)); no norm on the sub-layers' inputs")
    passed("post-norm block = LN2(h + MLP(h)), h = LN1(x + MHA(x)), on 2 inputs (one token included)")
