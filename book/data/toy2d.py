"""Two-dimensional toy distributions for classifiers and generative models.

All generators take ``n`` and a ``seed`` and return float32 arrays; the
classification sets also return integer labels. Used in p1-3.2 (decision
boundaries) and by the generative models of Part V.
"""

from __future__ import annotations

import numpy as np


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _check_n(n: int) -> None:
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")


def moons(n: int = 400, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles: ``X`` (n, 2) float32 and labels ``y`` (n,) in {0, 1}."""
    _check_n(n)
    rng = _rng(seed)
    n0 = n // 2
    t0 = rng.uniform(0.0, np.pi, n0)
    t1 = rng.uniform(0.0, np.pi, n - n0)
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    lower = np.stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    X = np.concatenate([upper, lower]) + noise * rng.standard_normal((n, 2))
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n - n0, np.int64)])
    perm = rng.permutation(n)
    return X[perm].astype(np.float32), y[perm]


def swiss_roll(n: int = 1000, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """A 2-D swiss roll (spiral) scaled to roughly [-1, 1]²: (n, 2) float32."""
    _check_n(n)
    rng = _rng(seed)
    t = 1.5 * np.pi * (1.0 + 2.0 * rng.uniform(size=n))
    X = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / 15.0
    return (X + noise * rng.standard_normal((n, 2))).astype(np.float32)


def gaussian_mixture(n: int = 1000, modes: int = 8, radius: float = 2.0, std: float = 0.05,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``modes`` Gaussians evenly spaced on a circle: samples (n, 2) and their mode index (n,)."""
    _check_n(n)
    if modes < 1:
        raise ValueError(f"modes must be >= 1, got {modes}")
    rng = _rng(seed)
    k = rng.integers(0, modes, n)
    angle = 2.0 * np.pi * k / modes
    centres = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return (centres + std * rng.standard_normal((n, 2))).astype(np.float32), k.astype(np.int64)


def mixture_centres(modes: int = 8, radius: float = 2.0) -> np.ndarray:
    """The centres that :func:`gaussian_mixture` samples around: (modes, 2)."""
    angle = 2.0 * np.pi * np.arange(modes) / modes
    return radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)


def blobs(n: int = 300, centres: int = 3, std: float = 0.6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic Gaussian clusters around ``centres`` random points in [-3, 3]²."""
    _check_n(n)
    rng = _rng(seed)
    c = rng.uniform(-3.0, 3.0, (centres, 2))
    y = rng.integers(0, centres, n)
    return (c[y] + std * rng.standard_normal((n, 2))).astype(np.float32), y.astype(np.int64)


def noisy_sine(n: int = 30, noise: float = 0.25, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """1-D regression data: ``x`` uniform in [0, 1], ``y = sin(2πx) + noise``; both (n,) float64."""
    _check_n(n)
    rng = _rng(seed)
    x = np.sort(rng.uniform(0.0, 1.0, n))
    return x, np.sin(2.0 * np.pi * x) + noise * rng.standard_normal(n)
