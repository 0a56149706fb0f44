"""The p3-vi exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from book.exercises.part3_efficiency import ch06_vision_transformers as ex
from book.nn.vit import info_nce


def _params(cfg, cls=True, norms=True):
    c, t, k = cfg.d_model, cfg.n_patches, cfg.n_classes
    block = 4 * c * c + 4 * c + 8 * c * c + 5 * c + (4 * c if norms else 0)
    return (cfg.patch_dim * c + c + (c if cls else 0) + (t + 1) * c * cfg.positions
            + cfg.n_layer * block + (2 * c if norms else 0) + c * k + k)


def test_vit_params_accepts_the_count_and_rejects_slips(capsys):
    ex.check_vit_params(_params)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="CLS"):
        ex.check_vit_params(lambda cfg: _params(cfg, cls=False))
    with pytest.raises(AssertionError, match="LayerNorm"):
        ex.check_vit_params(lambda cfg: _params(cfg, norms=False))
    with pytest.raises(AssertionError, match="expected"):
        ex.check_vit_params(lambda cfg: _params(cfg) + 1)


def _unpatchify(patches, patch, channels):
    n, t, _ = patches.shape
    side = int(round(t ** 0.5))
    x = patches.reshape(n, side, side, channels, patch, patch).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(n, channels, side * patch, side * patch)


def test_unpatchify_accepts_an_inverse_and_rejects_a_transpose(capsys):
    ex.check_unpatchify(_unpatchify)
    assert "✓" in capsys.readouterr().out

    def fold(patches, patch, channels):          # an independent inverse: F.fold undoes F.unfold
        side = int(round(patches.shape[1] ** 0.5)) * patch
        return F.fold(patches.transpose(1, 2), (side, side), kernel_size=patch, stride=patch)

    ex.check_unpatchify(fold)

    def transposed(patches, patch, channels):
        return _unpatchify(patches, patch, channels).transpose(-2, -1)

    with pytest.raises(AssertionError, match="transposed"):
        ex.check_unpatchify(transposed)

    def wrong_order(patches, patch, channels):   # forgets the permute
        n, t, _ = patches.shape
        side = int(round(t ** 0.5))
        return patches.reshape(n, channels, side * patch, side * patch)

    with pytest.raises(AssertionError, match="permute"):
        ex.check_unpatchify(wrong_order)


def test_multi_positive_info_nce_accepts_the_loss_and_rejects_plain_info_nce(capsys):
    def loss(a, b, labels, temperature):
        a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
        p = torch.softmax(a @ b.T / temperature, 1)
        q = torch.softmax(b @ a.T / temperature, 1)
        same = (labels[:, None] == labels[None, :]).to(a.dtype)
        return -((p * same).sum(1).log().mean() + (q * same).sum(1).log().mean()) / 2

    ex.check_multi_positive_info_nce(loss)
    ex.check_multi_positive_info_nce(ex.multi_positive_info_nce_reference)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="plain InfoNCE"):
        ex.check_multi_positive_info_nce(lambda a, b, labels, t: info_nce(a, b, t))

    def one_way(a, b, labels, temperature):
        a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
        s = a @ b.T / temperature
        same = labels[:, None] == labels[None, :]
        return -(torch.logsumexp(s.masked_fill(~same, float("-inf")), 1) - torch.logsumexp(s, 1)).mean()

    with pytest.raises(AssertionError, match="expected"):
        ex.check_multi_positive_info_nce(one_way)
