"""Exercise checkers for p3-vi (vision transformers).

The references are :class:`book.nn.vit.ViT` (its parameter count),
:func:`book.nn.vit.unpatchify` and :func:`book.nn.vit.info_nce`. Inputs are
awkward on purpose: three channels, one patch per image, patches of one
pixel, a batch of one, every label the same.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

from book.checks import assert_close
from book.exercises import passed, with_hint
from book.nn.vit import ViT, ViTConfig, info_nce, patchify, unpatchify

_CONFIGS = [ViTConfig(), ViTConfig(patch=4), ViTConfig(patch=1, d_model=16, n_head=2, n_layer=1),
            ViTConfig(positions=False), ViTConfig(image=12, patch=3, channels=3, d_model=24, n_head=3, n_classes=5),
            ViTConfig(patch=8, n_layer=4, pool="mean")]


def check_vit_params(fn: Callable[[ViTConfig], int]) -> None:
    """``fn(cfg)`` must return the number of parameters of ``ViT(cfg)`` from the sizes alone."""
    for cfg in _CONFIGS:
        want = ViT(cfg).num_params()
        got = fn(cfg)
        if got == want:
            continue
        c, t = cfg.d_model, cfg.n_patches
        diff = want - got if isinstance(got, int) else None
        if diff == (t + 1) * c * cfg.positions + c or diff == c or diff == (t + 1) * c:
            hint = ("count the [CLS] token (C numbers) and the position table ((T + 1) · C: one row per patch "
                    "and one for [CLS])")
        elif diff is not None and diff % c == 0 and 0 < diff // c <= 4 * cfg.n_layer + 2:
            hint = "every LayerNorm has a weight and a bias of C numbers (two per block, one final)"
        elif diff == cfg.n_layer * 9 * c or diff == cfg.n_layer * 13 * c:
            hint = "count the biases: q, k, v and output projections (4C), the MLP's up (4C) and down (C)"
        else:
            hint = ("a block holds 12·C² + 13·C numbers (attention 4C² + 4C, MLP 8C² + 5C, two LayerNorms 4C); "
                    "add the patch embedding P·C + C, [CLS], positions, the final LayerNorm and the head C·K + K")
        raise AssertionError(f"vit_params({cfg}) = {got}, expected {want}: {hint}")
    passed(f"ViT parameter counts correct for {len(_CONFIGS)} configurations "
           "(patches of 1 to 8 pixels, three channels, no position embeddings)")


def check_unpatchify(fn: Callable[..., torch.Tensor]) -> None:
    """``fn(patches, patch, channels)`` must invert :func:`book.nn.vit.patchify` for square images."""
    g = torch.Generator().manual_seed(6)
    cases = [(2, 1, 8, 2), (3, 3, 6, 3), (1, 1, 8, 8), (4, 2, 8, 1), (1, 3, 12, 4)]
    for n, c, side, p in cases:
        images = torch.randn(n, c, side, side, generator=g)
        want = unpatchify(patchify(images, p), p, c)
        got = fn(patchify(images, p), p, c)
        assert isinstance(got, torch.Tensor) and got.shape == want.shape, (
            f"unpatchify of {n} images of {c}×{side}×{side} in patches of {p}: expected shape {tuple(want.shape)}, "
            f"got {getattr(got, 'shape', type(got))}")
        if not torch.equal(got, images):
            transposed = images.transpose(-2, -1)
            if torch.equal(got, transposed):
                hint = ("the image came back transposed: patches run along the rows first "
                        "(patch index = row · W/p + column)")
            else:
                hint = ("patchify's layout is (N, H/p, W/p, C, p, p) flattened: reshape to that, permute to "
                        "(N, C, H/p, p, W/p, p) and merge the pairs (H/p, p) and (W/p, p)")
            with_hint(lambda: assert_close(got, images, rtol=0, atol=0,
                                           name=f"unpatchify(patchify(x, {p}), {p}, {c}) for x {tuple(images.shape)}"),
                      hint)
    passed(f"unpatchify inverts patchify on {len(cases)} cases (one to three channels, patches of 1 to 8 pixels)")


def multi_positive_info_nce_reference(a: torch.Tensor, b: torch.Tensor, labels: torch.Tensor,
                                      temperature: float = 0.1) -> torch.Tensor:
    """InfoNCE where every pair with the same label is a positive: −log Σ_{j: y_j = y_i} softmax(s_i)_j, both ways."""
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    s = a @ b.T / temperature                                                   # (B, B)
    same = labels[:, None] == labels[None, :]
    def one_way(logits):
        return -(torch.logsumexp(logits.masked_fill(~same, float("-inf")), 1) - torch.logsumexp(logits, 1)).mean()
    return (one_way(s) + one_way(s.T)) / 2


def check_multi_positive_info_nce(fn: Callable[..., torch.Tensor]) -> None:
    """``fn(a, b, labels, temperature)``: the symmetric InfoNCE with every same-label pair counted as positive."""
    g = torch.Generator().manual_seed(7)
    cases = [(torch.arange(6), 0.1), (torch.tensor([0, 1, 0, 2, 1, 0, 3, 3]), 0.2),
             (torch.zeros(5, dtype=torch.long), 0.5), (torch.tensor([4]), 0.1),
             (torch.randint(0, 3, (17,), generator=g), 0.07)]
    for labels, tau in cases:
        n = len(labels)
        a = torch.randn(n, 9, generator=g, dtype=torch.float64)
        b = 3 * torch.randn(n, 9, generator=g, dtype=torch.float64)
        want = multi_positive_info_nce_reference(a, b, labels, tau)
        got = fn(a.clone(), b.clone(), labels.clone(), tau)
        assert isinstance(got, torch.Tensor) and got.dim() == 0, (
            f"return a scalar tensor, got {getattr(got, 'shape', type(got))}")
        if torch.allclose(got, want, rtol=1e-9, atol=1e-12):
            continue
        if torch.allclose(got, info_nce(a, b, tau), rtol=1e-9, atol=1e-12):
            hint = "that is plain InfoNCE: the numerator must sum exp(s_ij) over every j with the same label as i"
        elif n > 1 and (labels == labels[0]).all():
            hint = "when every label is the same, every pair is a positive and the loss is exactly 0"
        else:
            hint = ("normalise both embeddings, s = a bᵀ / temperature; per row, −log Σ_{same label} exp(s_ij) + "
                    "log Σ_j exp(s_ij) (logsumexp with −∞ outside the label); average the rows and the columns")
        raise AssertionError(f"{n} pairs with labels {labels.tolist()}, temperature {tau}: got {float(got):.6g}, "
                             f"expected {float(want):.6g}: {hint}")
    # distinct labels: it must be plain InfoNCE
    a, b = torch.randn(8, 4, generator=g, dtype=torch.float64), torch.randn(8, 4, generator=g, dtype=torch.float64)
    assert_close(fn(a, b, torch.arange(8), 0.1), info_nce(a, b, 0.1), rtol=1e-9, name="distinct labels vs info_nce")
    passed(f"multi-positive InfoNCE correct on {len(cases) + 1} batches (one pair, all labels equal, repeats); "
           "with distinct labels it is book.nn.vit.info_nce")


__all__ = ["check_vit_params", "check_unpatchify", "check_multi_positive_info_nce",
           "multi_positive_info_nce_reference"]
