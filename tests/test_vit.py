"""The vision transformer of p3-vi: patches, the patch embedding as a convolution, attention maps, InfoNCE."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from book.nn.cnn import num_params
from book.nn.vit import ViT, ViTConfig, info_nce, patchify, unpatchify


def test_patchify_layout_and_inverse():
    x = torch.arange(2 * 3 * 6 * 4, dtype=torch.float32).view(2, 3, 6, 4)     # non-square, three channels
    p = patchify(x, 2)
    assert p.shape == (2, 3 * 2, 3 * 2 * 2)
    # patch (row 1, column 1) of image 1, channel 2, is x[1, 2, 2:4, 2:4]; it is patch number 1·2 + 1
    assert torch.equal(p[1, 3].view(3, 2, 2)[2], x[1, 2, 2:4, 2:4])
    sq = torch.randn(5, 2, 8, 8)
    for patch in (1, 2, 4, 8):
        assert torch.equal(unpatchify(patchify(sq, patch), patch, channels=2), sq)
    assert torch.equal(patchify(sq[:, 0], 4), patchify(sq[:, :1], 4))     # (N, H, W) means one channel


def test_patchify_matches_unfold():
    x = torch.randn(3, 2, 8, 8)
    ref = F.unfold(x, kernel_size=4, stride=4).transpose(1, 2)            # (N, T, C·p·p), the same layout
    assert torch.equal(patchify(x, 4), ref)


def test_errors_name_the_sizes():
    with pytest.raises(ValueError, match="8×8.*patch size 3"):
        patchify(torch.zeros(1, 1, 8, 8), 3)
    with pytest.raises(ValueError, match="image size 8 is not divisible by patch size 3"):
        ViTConfig(patch=3)
    with pytest.raises(ValueError, match="shape"):
        patchify(torch.zeros(8, 8), 2)
    with pytest.raises(ValueError, match=r"\(N, 1, 8, 8\)"):
        ViT(ViTConfig())(torch.zeros(2, 1, 4, 4))
    with pytest.raises(ValueError, match="pool"):
        ViTConfig(pool="max")
    with pytest.raises(ValueError, match="same shape"):
        info_nce(torch.zeros(4, 8), torch.zeros(3, 8))


def test_shapes_and_parameter_count():
    for cfg in (ViTConfig(), ViTConfig(patch=4, channels=3, d_model=24, n_head=2, n_layer=1, pool="mean"),
                ViTConfig(positions=False, n_classes=3)):
        m = ViT(cfg)
        x = torch.rand(7, cfg.channels, cfg.image, cfg.image)
        assert m(x).shape == (7, cfg.n_classes)
        assert m.encode(x).shape == (7, cfg.n_patches + 1, cfg.d_model)
        maps = m.attention_maps(x)
        assert len(maps) == cfg.n_layer
        assert all(a.shape == (7, cfg.n_head, cfg.n_patches + 1, cfg.n_patches + 1) for a in maps)
        assert torch.allclose(maps[0].sum(-1), torch.ones(()), atol=1e-6)
        c, t, k = cfg.d_model, cfg.n_patches, cfg.n_classes
        closed_form = (cfg.patch_dim * c + c + c + (t + 1) * c * cfg.positions
                       + cfg.n_layer * (12 * c * c + 13 * c) + 2 * c + c * k + k)
        assert m.num_params() == num_params(m) == closed_form


def test_linear_patch_embedding_equals_strided_conv():
    torch.manual_seed(0)
    cfg = ViTConfig(patch=4, channels=3)
    m = ViT(cfg)
    with torch.no_grad():
        m.patch_embed.bias.normal_()
    x = torch.randn(4, 3, 8, 8)
    conv = m.patch_embedding_as_conv()
    via_conv = conv(x).flatten(2).transpose(1, 2)                           # (N, T, C)
    torch.testing.assert_close(m.patch_embed(patchify(x, 4)), via_conv, rtol=1e-5, atol=1e-6)
    # and against a conv built independently from the same numbers
    ref = F.conv2d(x, m.patch_embed.weight.view(cfg.d_model, 3, 4, 4), m.patch_embed.bias, stride=4)
    torch.testing.assert_close(via_conv, ref.flatten(2).transpose(1, 2))


def test_attention_maps_are_the_weights_the_blocks_apply():
    torch.manual_seed(1)
    m = ViT(ViTConfig()).eval()
    x = torch.rand(3, 1, 8, 8)
    maps = m.attention_maps(x)
    h = m.embed(x)
    for block, w in zip(m.blocks, maps):
        a = block.attn
        z = block.norm1(h)
        n, t, c = z.shape
        v = a.kv_proj(z).view(n, t, 2, a.n_head, a.head_dim)[:, :, 1].transpose(1, 2)    # (N, H, T, D)
        out = a.out_proj((w @ v).transpose(1, 2).reshape(n, t, c))
        torch.testing.assert_close(out, a(z), rtol=1e-5, atol=1e-6)
        h = block(h)


def test_without_positions_the_model_ignores_patch_order():
    torch.manual_seed(2)
    x = torch.rand(5, 1, 8, 8)
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(3))
    shuffled = unpatchify(patchify(x, 2)[:, perm], 2)
    def scrambled(cfg):          # weights of size 1, so that attention is far from uniform
        m = ViT(cfg)
        with torch.no_grad():
            for p in m.parameters():
                p.normal_(0.0, 0.5)
        return m

    for pool in ("cls", "mean"):
        bag = scrambled(ViTConfig(positions=False, pool=pool))
        torch.testing.assert_close(bag.features(shuffled), bag.features(x), rtol=1e-5, atol=1e-5)
    with_pos = scrambled(ViTConfig())
    assert (with_pos.features(shuffled) - with_pos.features(x)).abs().max() > 1e-2


def test_info_nce_is_a_cross_entropy_over_rows_and_columns():
    g = torch.Generator().manual_seed(4)
    a, b = torch.randn(6, 5, generator=g, dtype=torch.float64), torch.randn(6, 5, generator=g, dtype=torch.float64)
    tau = 0.3
    s = (a / a.norm(dim=1, keepdim=True)) @ (b / b.norm(dim=1, keepdim=True)).T / tau
    by_hand = -(torch.diag(s) - torch.logsumexp(s, 1)).mean() / 2 - (torch.diag(s) - torch.logsumexp(s, 0)).mean() / 2
    torch.testing.assert_close(info_nce(a, b, tau), by_hand)
    # groups: a leading dimension is a set of independent batches
    A, B = torch.randn(3, 4, 5, generator=g), torch.randn(3, 4, 5, generator=g)
    torch.testing.assert_close(info_nce(A, B, tau), torch.stack([info_nce(A[i], B[i], tau) for i in range(3)]).mean())
    # perfectly aligned, well-separated pairs: the loss goes to zero as the temperature falls
    eye = torch.eye(4)
    assert info_nce(eye, eye, 0.01) < 1e-6 < info_nce(eye, eye.roll(1, 0), 0.01)
