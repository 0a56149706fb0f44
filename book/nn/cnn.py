"""The small convolutional network for the 8×8 digits.

Taught in p1-4.2 (convolution as a prior: weight sharing and locality, against
an MLP with as many parameters); reused as the baseline that the vision
transformer of p3-vi is compared with at equal parameter count.

    >>> import torch
    >>> model = digits_cnn()
    >>> model(torch.zeros(5, 1, 8, 8)).shape
    torch.Size([5, 10])
    >>> num_params(model)
    5594
"""

from __future__ import annotations

from torch import nn


def digits_cnn(c1: int = 32, c2: int = 16, n_classes: int = 10) -> nn.Sequential:
    """Two 3×3 convolutions (``c1``, then ``c2`` channels), each with ReLU and 2×2 max-pooling, then a linear head.

    Input (N, 1, 8, 8) → (N, c1, 4, 4) → (N, c2, 2, 2) → logits (N, n_classes).
    """
    if c1 < 1 or c2 < 1 or n_classes < 2:
        raise ValueError(f"digits_cnn: need c1, c2 >= 1 and n_classes >= 2, "
                         f"got c1={c1}, c2={c2}, n_classes={n_classes}")
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # (N, c1, 4, 4)
        nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (N, c2, 2, 2)
        nn.Flatten(), nn.Linear(c2 * 4, n_classes))                    # (N, n_classes)


def num_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["digits_cnn", "num_params"]
