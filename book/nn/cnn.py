"""The small convolutional network for the 8×8 digits.

Taught in p1-4.2 (convolution as a prior: weight sharing and locality, against
an MLP with as many parameters); trained the practitioner's way, with batch
normalisation and data augmentation, in p4-2; and the baseline that the
vision transformer of p3-vi is compared with at equal parameter count.

    >>> import torch
    >>> model = digits_cnn()
    >>> model(torch.zeros(5, 1, 8, 8)).shape
    torch.Size([5, 10])
    >>> num_params(model)
    5594
    >>> model(torch.zeros(5, 1, 7, 7))
    Traceback (most recent call last):
    ...
    ValueError: DigitsCNN expects images of shape (N, 1, 8, 8), got (5, 1, 7, 7)
"""

from __future__ import annotations

import torch
from torch import nn


class DigitsCNN(nn.Sequential):
    """Two 3×3 convolutions (``c1``, then ``c2`` channels), each with ReLU and 2×2 max-pooling, then a linear head.

    Input (N, 1, 8, 8) → (N, c1, 4, 4) → (N, c2, 2, 2) → logits (N, n_classes). With ``batch_norm`` a
    ``BatchNorm2d`` follows each convolution (whose bias it makes redundant, so the convolutions have none).
    Without it, the layers are exactly Part I's, so state dicts move between the two.
    """

    def __init__(self, c1: int = 32, c2: int = 16, n_classes: int = 10, batch_norm: bool = False):
        if c1 < 1 or c2 < 1 or n_classes < 2:
            raise ValueError(f"DigitsCNN: need c1, c2 >= 1 and n_classes >= 2, "
                             f"got c1={c1}, c2={c2}, n_classes={n_classes}")
        layers: list[nn.Module] = []
        for c_in, c_out in ((1, c1), (c1, c2)):
            layers.append(nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers += [nn.ReLU(), nn.MaxPool2d(2)]              # (N, c, 8, 8) -> (N, c, 4, 4) -> … (N, c2, 2, 2)
        layers += [nn.Flatten(), nn.Linear(c2 * 4, n_classes)]  # (N, n_classes)
        super().__init__(*layers)
        self.c1, self.c2, self.n_classes, self.batch_norm = c1, c2, n_classes, batch_norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or tuple(x.shape[1:]) != (1, 8, 8):
            hint = "; reshape flat pixels with x.view(-1, 1, 8, 8)" if x.dim() == 2 and x.shape[-1] == 64 else ""
            raise ValueError(f"DigitsCNN expects images of shape (N, 1, 8, 8), got {tuple(x.shape)}{hint}")
        return super().forward(x)


def digits_cnn(c1: int = 32, c2: int = 16, n_classes: int = 10, batch_norm: bool = False) -> DigitsCNN:
    """The digits CNN; see :class:`DigitsCNN`."""
    return DigitsCNN(c1, c2, n_classes, batch_norm)


def num_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["DigitsCNN", "digits_cnn", "num_params"]
