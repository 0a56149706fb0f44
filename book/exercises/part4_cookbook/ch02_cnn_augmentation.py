"""Exercise checkers for p4-2 (the CNN with data augmentation).

References: whole-pixel shifts computed by explicit index arithmetic, and a
real ``nn.BatchNorm2d``'s parameters and buffers. Inputs include shifts of
zero, negative shifts, shifts as large as the image and non-square images.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from book.exercises import passed


def translate_reference(images: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Move every image ``dx`` pixels right and ``dy`` down, zeros filling in: out[i, j] = in[i - dy, j - dx]."""
    out = torch.zeros_like(images)
    h, w = images.shape[-2:]
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[..., i, j] = images[..., i - dy, j - dx]
    return out


def check_translate(fn: Callable[[torch.Tensor, int, int], torch.Tensor]) -> None:
    """``fn(images, dx, dy)``: whole-pixel shifts of an (N, C, H, W) batch with zero fill."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 2, 5, 7, generator=g)                 # not square, two channels
    cases = [(0, 0), (1, 0), (0, 1), (-2, 0), (0, -3), (2, -1), (7, 0), (0, -5), (-8, 6)]
    for dx, dy in cases:
        got = fn(x, dx, dy)
        want = translate_reference(x, dx, dy)
        if tuple(got.shape) != tuple(x.shape):
            raise AssertionError(f"translate(x, {dx}, {dy}) returned shape {tuple(got.shape)}, expected "
                                 f"{tuple(x.shape)}: keep a window of the original size")
        if torch.equal(got, want):
            continue
        if torch.equal(got, translate_reference(x, -dx, -dy)):
            raise AssertionError(f"translate(x, {dx}, {dy}) moved the image the wrong way: positive dx is right "
                                 "(towards higher column indices), positive dy is down")
        if torch.equal(got, translate_reference(x, dy, dx)):
            raise AssertionError(f"translate(x, {dx}, {dy}) swapped the axes: dx moves columns (the last "
                                 "dimension), dy moves rows")
        raise AssertionError(f"translate(x, {dx}, {dy}) differs from the reference at "
                             f"{int((got != want).sum())} of {x.numel()} values")
    passed(f"whole-pixel shifts exact on {len(cases)} cases, shifts past the edge included")


def check_batchnorm_state(fn: Callable[[int], tuple[int, int]]) -> None:
    """``fn(channels)`` -> (trainable parameters, buffer values) of one ``nn.BatchNorm2d``."""
    for c in (1, 3, 16, 32):
        layer = nn.BatchNorm2d(c)
        want = (sum(p.numel() for p in layer.parameters()), sum(b.numel() for b in layer.buffers()))
        got = tuple(fn(c))
        if got == want:
            continue
        if got[0] == want[0] and got[1] == want[1] - 1:
            hint = "num_batches_tracked is a buffer too (one value per layer)"
        elif got[0] == want[0] // 2:
            hint = "each channel has a scale γ and a shift β"
        else:
            hint = "parameters: γ and β per channel; buffers: running mean and variance per channel, plus a counter"
        raise AssertionError(f"batchnorm_state({c}) returned {got}, expected {want}: {hint}")
    passed("BatchNorm2d parameters and buffers counted for 1, 3, 16 and 32 channels")
