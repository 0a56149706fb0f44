"""Exercise checkers for p4-1 (the MLP classifier recipe).

References: scikit-learn's ``confusion_matrix`` and the closed-form parameter
count of :class:`book.nn.mlp_classifier.MLPClassifier`, counted from a real
instance. Inputs include a class that never occurs, an empty batch, and no
hidden layer at all.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sklearn.metrics import confusion_matrix

from book.exercises import passed
from book.nn.mlp_classifier import MLPClassifier, MLPClassifierConfig


def check_confusion(fn: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]) -> None:
    """``fn(pred, target, n_classes)`` -> (n_classes, n_classes) counts, rows = true class, columns = predicted."""
    g = torch.Generator().manual_seed(0)
    cases = [(torch.randint(0, 10, (500,), generator=g), torch.randint(0, 10, (500,), generator=g), 10),
             (torch.tensor([0, 0, 2]), torch.tensor([0, 2, 2]), 4),          # class 1 and 3 never occur
             (torch.tensor([1]), torch.tensor([0]), 2),                       # a single, wrong prediction
             (torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), 3)]
    for pred, target, n in cases:
        got = fn(pred, target, n)
        if len(target):
            want = confusion_matrix(target.numpy(), pred.numpy(), labels=range(n)).astype(np.int64)
        else:                            # scikit-learn refuses an empty batch; its matrix is all zeros
            want = np.zeros((n, n), dtype=np.int64)
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != (n, n):
            raise AssertionError(f"expected an ({n}, {n}) tensor, got {type(got).__name__} of shape "
                                 f"{tuple(getattr(got, 'shape', ()))}: use minlength for classes that never occur")
        got = got.numpy().astype(np.int64)
        if np.array_equal(got, want):
            continue
        if np.array_equal(got, want.T):
            raise AssertionError("your matrix is the transpose of the reference: rows must be the true class "
                                 "(target) and columns the prediction")
        raise AssertionError(f"counts differ from scikit-learn's for pred={pred.tolist()[:6]}…, "
                             f"target={target.tolist()[:6]}…: expected\n{want}\ngot\n{got}")
    passed(f"confusion matrices equal scikit-learn's on {len(cases)} cases, an empty batch included")


def check_mlp_parameters(fn: Callable[[int, tuple[int, ...], int], int]) -> None:
    """``fn(n_features, hidden, n_classes)`` -> the trainable parameters of :class:`MLPClassifier`."""
    cases = [(64, (128, 64), 10), (64, (), 10), (3, (1,), 2), (784, (512, 256, 128), 10)]
    for n_features, hidden, n_classes in cases:
        model = MLPClassifier(MLPClassifierConfig(n_features=n_features, hidden=hidden, n_classes=n_classes))
        want = sum(p.numel() for p in model.parameters() if p.requires_grad)
        got = fn(n_features, hidden, n_classes)
        if got == want:
            continue
        weights_only = sum(a * b for a, b in zip((n_features, *hidden), (*hidden, n_classes)))
        with_buffers = want + 2 * n_features
        if got == weights_only:
            hint = "each layer also has a bias vector of d_out values"
        elif got == with_buffers:
            hint = "the mean and std buffers are not trained parameters"
        else:
            hint = "a layer from d_in to d_out units has (d_in + 1)·d_out parameters"
        raise AssertionError(f"mlp_parameters({n_features}, {hidden}, {n_classes}) returned {got}, "
                             f"expected {want}: {hint}")
    passed(f"parameter counts match real models on {len(cases)} configurations, no hidden layer included")
