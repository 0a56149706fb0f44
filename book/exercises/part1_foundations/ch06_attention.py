"""Exercise checkers for p1-ch6 (attention and the transformer)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from book.checks import assert_close
from book.exercises import passed, with_hint
from book.exercises.shared import check_padded_attention, padded_attention_reference  # noqa: F401  (re-exported)
from book.nn.gpt import Block, GPTConfig
from book.nn.layers import sinusoidal_positions


def check_shift_matrix(fn: Callable[[int, int], object]) -> None:
    """``fn(k, dim)`` must return M_k (dim, dim) with PE[p + k] = M_k @ PE[p] for every position p."""
    n = 80
    for dim in (2, 6, 8, 32):
        pe = sinusoidal_positions(n, dim, dtype=torch.float64)
        for k in (0, 1, 5, -3, 40):
            M = torch.as_tensor(fn(k, dim), dtype=torch.float64)
            assert M.shape == (dim, dim), (
                f"shift_matrix({k}, {dim}) must have shape ({dim}, {dim}), got {tuple(M.shape)}")
            p = torch.arange(max(0, -k), min(n, n - k))        # positions with p and p + k in the table
            with_hint(lambda: assert_close(pe[p] @ M.T, pe[p + k], rtol=1e-9, atol=1e-9,
                                            name=f"M_k PE[p] vs PE[p + k] for k={k}, dim={dim}"),
                       "M_k is block diagonal; block i maps (sin ω_i p, cos ω_i p) to "
                       "(sin ω_i (p+k), cos ω_i (p+k)) by the angle-addition formulas, with ω_i = 10000^(-2i/dim)")
    passed("PE[p + k] = M_k PE[p] for 5 offsets (a negative one included) and 4 widths")


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
        with_hint(lambda: assert_close(got, want, rtol=1e-10, atol=1e-10, name=f"x of shape {tuple(x.shape)}"),
                   "post-norm applies the norm after the residual addition: h = norm1(x + attn(x)), "
                   "y = norm2(h + mlp(h)); no norm on the sub-layers' inputs")
    passed("post-norm block = LN2(h + MLP(h)), h = LN1(x + MHA(x)), on 2 inputs (one token included)")
