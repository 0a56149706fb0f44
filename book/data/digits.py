"""The 8×8 handwritten digits shipped with scikit-learn (1,797 images, 10 classes).

Used in p1-1.2 (logistic regression) and onwards. Pixels are scaled to
[0, 1]; the split is stratified and seeded, so every chapter sees the same
train and test images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Split:
    """Train/test arrays: ``X_*`` float32 of shape (n, 64), ``y_*`` int64 of shape (n,)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    @property
    def images_train(self) -> np.ndarray:
        """Training images as (n, 8, 8)."""
        return self.X_train.reshape(-1, 8, 8)

    @property
    def images_test(self) -> np.ndarray:
        return self.X_test.reshape(-1, 8, 8)


def load(test_fraction: float = 0.25, seed: int = 0) -> Split:
    """Load the digits and split them, stratified by class.

    >>> s = load(); s.X_train.shape[1], sorted(set(s.y_test.tolist())) == list(range(10))
    (64, True)
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    X = (d.data / 16.0).astype(np.float32)  # pixel intensities are 0..16
    y = d.target.astype(np.int64)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_fraction, random_state=seed, stratify=y)
    return Split(X_tr, y_tr, X_te, y_te)
