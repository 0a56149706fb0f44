"""Sample-quality measures for generative models, fixed before any model is trained.

A generative model has no accuracy, so each recipe that trains one (p4-7, p4-8,
p4-9) states in advance the measure its samples must pass:

* :func:`mode_coverage` for a 2-D mixture of Gaussians: how many modes receive
  samples, and what fraction of samples lands near some mode;
* :func:`mmd_rbf`, a two-sample distance (the maximum mean discrepancy with a
  Gaussian kernel) between generated and held-out 2-D points;
* :func:`train_digit_scorer` and :func:`score_digits`, a digit classifier trained
  on the real digits' training split that reads generated 8×8 images: which
  digit each looks like, and how sure it is.

    >>> import numpy as np
    >>> centres = np.array([[0.0, 0.0], [4.0, 0.0]])
    >>> cov = mode_coverage(np.array([[0.1, 0.0], [0.0, -0.1], [9.0, 9.0]]), centres, radius=0.5)
    >>> cov.covered, cov.counts.tolist(), round(cov.high_quality, 3)
    (1, [2, 0], 0.667)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def _points(x, name: str) -> torch.Tensor:
    t = x.detach().double().cpu() if torch.is_tensor(x) else torch.as_tensor(np.asarray(x), dtype=torch.float64)
    if t.dim() != 2 or t.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (N, D) array of points, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return t


@dataclass(frozen=True)
class ModeCoverage:
    """``counts[k]``: samples within ``radius`` of centre k; ``covered``: modes with at least
    ``min_count`` samples; ``high_quality``: fraction of all samples within ``radius`` of some centre."""

    counts: np.ndarray
    covered: int
    high_quality: float


def mode_coverage(samples, centres, radius: float, min_count: int = 1) -> ModeCoverage:
    """Assign each sample to its nearest centre if it lies within ``radius`` of it (a common
    choice is three standard deviations of the mixture's components)."""
    x, c = _points(samples, "samples"), _points(centres, "centres")
    if x.shape[1] != c.shape[1]:
        raise ValueError(f"samples have {x.shape[1]} coordinates but centres have {c.shape[1]}")
    if not radius > 0 or min_count < 1:
        raise ValueError(f"need radius > 0 and min_count >= 1, got radius={radius}, min_count={min_count}")
    d = torch.cdist(x, c)                                   # (N, K)
    nearest, which = d.min(dim=1)
    near = nearest <= radius
    counts = torch.bincount(which[near], minlength=c.shape[0]).numpy()
    return ModeCoverage(counts, int((counts >= min_count).sum()), float(near.double().mean()))


def median_bandwidth(x, y) -> float:
    """The median pairwise distance of the pooled points: a scale-free default kernel width."""
    z = torch.cat([_points(x, "x"), _points(y, "y")])
    d = torch.pdist(z)
    return float(d.median())


def mmd_rbf(x, y, bandwidth: float | None = None) -> float:
    """Squared maximum mean discrepancy between the samples ``x`` (N, D) and ``y`` (M, D).

    With the Gaussian kernel k(a, b) = exp(−‖a − b‖² / (2σ²)), the unbiased estimate is
    mean_{i≠j} k(x_i, x_j) + mean_{i≠j} k(y_i, y_j) − 2 mean_{i,j} k(x_i, y_j); it is near 0
    when both samples come from one distribution and grows as they differ. σ defaults to
    :func:`median_bandwidth` of the pooled samples.
    """
    a, b = _points(x, "x"), _points(y, "y")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x has {a.shape[1]} coordinates but y has {b.shape[1]}")
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError(f"each sample needs at least 2 points, got {a.shape[0]} and {b.shape[0]}")
    s = median_bandwidth(a, b) if bandwidth is None else float(bandwidth)
    if not s > 0:
        raise ValueError(f"bandwidth must be > 0, got {bandwidth}")

    def k(p, q):
        return torch.exp(-torch.cdist(p, q).pow(2) / (2 * s * s))

    n, m = a.shape[0], b.shape[0]
    kxx, kyy = k(a, a), k(b, b)
    xx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    yy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return float(xx + yy - 2 * k(a, b).mean())


def train_digit_scorer(seed: int = 0, epochs: int = 60):
    """A digit classifier (:class:`book.nn.mlp_classifier.MLPClassifier`, recipe p4-1) trained on the
    training split of :func:`book.data.digits.load`; returned in eval mode. Takes about a second.

    Its input scaling floors each pixel's spread at 0.1. A dozen border pixels are (almost) never
    inked in the real digits, so their spread is near 0; standardised by it, the faint speckle a
    generative model leaves there would become a feature tens of standard deviations large and
    decide the reading. With the floor, noise of standard deviation 0.05 on real test digits costs
    the scorer under a point of accuracy (tested), and clean accuracy is unchanged."""
    from book.data import digits
    from book.nn.mlp_classifier import MLPClassifier, MLPClassifierConfig

    split = digits.load()
    x, y = torch.from_numpy(split.X_train), torch.from_numpy(split.y_train)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = MLPClassifier(MLPClassifierConfig(n_features=64, hidden=(128,), n_classes=10, dropout=0.1))
    model.fit_scaling(x, eps=0.1)                          # the spread's floor: see the docstring
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(128):
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


@dataclass(frozen=True)
class DigitScores:
    """The scorer's reading of N images: ``labels`` (N,) its predicted digits, ``confidence`` (N,)
    the probability it gives them, ``histogram`` (10,) how many images it reads as each digit."""

    labels: np.ndarray
    confidence: np.ndarray
    histogram: np.ndarray

    def accuracy(self, requested) -> float:
        """Fraction of images read as the digit that was requested for them (class-conditional models)."""
        r = np.asarray(requested).reshape(-1)
        if r.shape != self.labels.shape:
            raise ValueError(f"requested has {r.size} labels for {self.labels.size} images")
        return float((self.labels == r).mean())


@torch.no_grad()
def score_digits(scorer: torch.nn.Module, images) -> DigitScores:
    """Read generated digits ``images`` (N, 8, 8) or (N, 64), pixels in [0, 1] like the real data
    (an array or a tensor on any device)."""
    x = images.detach().float().cpu() if torch.is_tensor(images) else torch.as_tensor(np.asarray(images),
                                                                                        dtype=torch.float32)
    if x.dim() not in (2, 3) or x.shape[0] == 0 or x[0].numel() != 64:
        raise ValueError(f"images must be (N, 8, 8) or (N, 64) with N >= 1, got shape {tuple(x.shape)}")
    x = x.reshape(len(x), 64)
    if not torch.isfinite(x).all():
        raise ValueError("images hold NaN or infinite values")
    p = torch.softmax(scorer.eval()(x), dim=1)
    conf, labels = p.max(dim=1)
    labels_np = labels.numpy()
    return DigitScores(labels_np, conf.numpy(), np.bincount(labels_np, minlength=10))
