"""A multilayer-perceptron classifier for flat feature vectors, with its input scaling inside.

The model of the cookbook's first recipe (p4-1): the standardisation of the
inputs (training-set mean and standard deviation, per feature) is stored in the
model as buffers, so a saved checkpoint carries it and a reloaded model needs
no separate preprocessing step. Hidden layers are Linear → ReLU → Dropout.

    >>> model = MLPClassifier(MLPClassifierConfig(n_features=64, hidden=(32,), n_classes=10))
    >>> model(torch.zeros(5, 64)).shape
    torch.Size([5, 10])
    >>> model(torch.zeros(5, 8, 8)).shape        # images are flattened
    torch.Size([5, 10])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class MLPClassifierConfig:
    """Sizes of the classifier: ``n_features`` inputs → each of ``hidden`` → ``n_classes`` logits."""

    n_features: int = 64
    hidden: tuple[int, ...] = (128, 64)
    n_classes: int = 10
    dropout: float = 0.1

    def __post_init__(self):
        if self.n_features < 1 or self.n_classes < 2 or any(h < 1 for h in self.hidden):
            raise ValueError(f"MLPClassifierConfig: need n_features >= 1, n_classes >= 2 and hidden sizes >= 1, "
                             f"got n_features={self.n_features}, hidden={self.hidden}, n_classes={self.n_classes}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"MLPClassifierConfig: dropout must be in [0, 1), got {self.dropout}")


class MLPClassifier(nn.Module):
    """Standardise → (Linear → ReLU → Dropout) per hidden layer → Linear: logits (N, n_classes)."""

    def __init__(self, cfg: MLPClassifierConfig):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("mean", torch.zeros(cfg.n_features))
        self.register_buffer("std", torch.ones(cfg.n_features))
        layers: list[nn.Module] = []
        width = cfg.n_features
        for h in cfg.hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(cfg.dropout)]
            width = h
        layers.append(nn.Linear(width, cfg.n_classes))
        self.net = nn.Sequential(*layers)

    @torch.no_grad()
    def fit_scaling(self, x: torch.Tensor, eps: float = 1e-3) -> None:
        """Set the input scaling from training inputs ``x`` (N, n_features); ``eps`` guards constant features."""
        x = self._flat(x)
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0) + eps)

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2 or x[0].numel() != self.cfg.n_features:
            raise ValueError(f"MLPClassifier expects inputs of shape (N, {self.cfg.n_features}) or (N, ...) with "
                             f"{self.cfg.n_features} values per example, got {tuple(x.shape)}")
        return x.reshape(x.shape[0], -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((self._flat(x) - self.mean) / self.std)    # (N, n_features) -> (N, n_classes)
