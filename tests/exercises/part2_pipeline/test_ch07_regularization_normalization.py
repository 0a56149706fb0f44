"""The exercise checkers of Part II chapter VII accept a correct answer and reject wrong ones."""

from __future__ import annotations

import pytest
import torch

from book.exercises.part2_pipeline import ch07_regularization_normalization as ex


def _layer_norm_backward_by_hand(x, gamma, grad_out, eps=1e-5):
    mu = x.mean(-1, keepdim=True)
    sigma = torch.sqrt(((x - mu) ** 2).mean(-1, keepdim=True) + eps)
    x_hat = (x - mu) / sigma
    g_hat = gamma * grad_out
    dx = (g_hat - g_hat.mean(-1, keepdim=True) - x_hat * (g_hat * x_hat).mean(-1, keepdim=True)) / sigma
    reduce = tuple(range(x.dim() - 1))
    return dx, (grad_out * x_hat).sum(reduce), grad_out.sum(reduce)


def _batch_norm_2d(x, gamma, beta, eps=1e-5):
    mu = x.mean(dim=(0, 2, 3), keepdim=True)
    var = ((x - mu) ** 2).mean(dim=(0, 2, 3), keepdim=True)
    return gamma.view(1, -1, 1, 1) * (x - mu) / torch.sqrt(var + eps) + beta.view(1, -1, 1, 1)


def _decay_groups(model, weight_decay):
    params = list(model.parameters())
    return [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]


def test_checkers_accept_correct_answers(capsys):
    ex.check_dropout_variance(ex.dropout_variance_reference)
    ex.check_decay_groups(_decay_groups)
    ex.check_layer_norm_backward(_layer_norm_backward_by_hand)
    ex.check_layer_norm_backward(ex.layer_norm_backward_reference)
    ex.check_batch_norm_2d(_batch_norm_2d)
    ex.check_batch_norm_2d(ex.batch_norm_2d_reference)
    assert capsys.readouterr().out.count("✓") == 6


def test_dropout_variance_rejects_wrong_formulas():
    with pytest.raises(AssertionError, match="Hint"):
        ex.check_dropout_variance(lambda h, p: h ** 2 * p * (1 - p))          # forgets the 1/(1−p)² scaling
    with pytest.raises(AssertionError, match="Hint"):
        ex.check_dropout_variance(lambda h, p: h ** 2 * p)                    # non-inverted dropout's variance
    with pytest.raises(AssertionError, match="shape"):
        ex.check_dropout_variance(lambda h, p: (h ** 2 * p / (1 - p)).sum())


def test_decay_groups_rejects_wrong_groupings():
    with pytest.raises(AssertionError, match="Hint"):                           # decays everything
        ex.check_decay_groups(lambda m, wd: [{"params": list(m.parameters()), "weight_decay": wd}])
    with pytest.raises(AssertionError, match="no group"):                       # drops the 1-D parameters
        ex.check_decay_groups(lambda m, wd: [{"params": [p for p in m.parameters() if p.dim() >= 2],
                                               "weight_decay": wd}])
    with pytest.raises(AssertionError, match="two groups"):
        ex.check_decay_groups(lambda m, wd: _decay_groups(m, wd) + [{"params": list(m.parameters())[:1],
                                                                      "weight_decay": 0.0}])


def test_layer_norm_backward_rejects_wrong_gradients():
    def no_projection(x, gamma, grad_out, eps=1e-5):     # forgets the path through the variance
        dx, dg, db = _layer_norm_backward_by_hand(x, gamma, grad_out, eps)
        mu = x.mean(-1, keepdim=True)
        sigma = torch.sqrt(((x - mu) ** 2).mean(-1, keepdim=True) + eps)
        g_hat = gamma * grad_out
        return (g_hat - g_hat.mean(-1, keepdim=True)) / sigma, dg, db

    def per_row_gamma(x, gamma, grad_out, eps=1e-5):     # does not sum dgamma over the leading axes
        dx, _, db = _layer_norm_backward_by_hand(x, gamma, grad_out, eps)
        mu = x.mean(-1, keepdim=True)
        x_hat = (x - mu) / torch.sqrt(((x - mu) ** 2).mean(-1, keepdim=True) + eps)
        return dx, grad_out * x_hat, db

    with pytest.raises(AssertionError, match="Hint"):
        ex.check_layer_norm_backward(no_projection)
    with pytest.raises(AssertionError, match="shape"):
        ex.check_layer_norm_backward(per_row_gamma)


def test_batch_norm_2d_rejects_wrong_axes():
    def per_pixel(x, gamma, beta, eps=1e-5):             # statistics over the batch only, as BatchNorm1d would
        mu = x.mean(0, keepdim=True)
        var = ((x - mu) ** 2).mean(0, keepdim=True)
        return gamma.view(1, -1, 1, 1) * (x - mu) / torch.sqrt(var + eps) + beta.view(1, -1, 1, 1)

    def unbiased(x, gamma, beta, eps=1e-5):
        mu = x.mean(dim=(0, 2, 3), keepdim=True)
        var = x.var(dim=(0, 2, 3), keepdim=True)
        return gamma.view(1, -1, 1, 1) * (x - mu) / torch.sqrt(var + eps) + beta.view(1, -1, 1, 1)

    for wrong in (per_pixel, unbiased):
        with pytest.raises(AssertionError, match="Hint"):
            ex.check_batch_norm_2d(wrong)
