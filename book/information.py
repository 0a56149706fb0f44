"""Information theory for discrete and Gaussian distributions, and two mutual-information estimators.

Taught in p5-1. Everything is in nats (natural logarithms) and uses the
convention 0 log 0 = 0.

* :func:`entropy`, :func:`cross_entropy` and :func:`kl_divergence` take
  probability vectors along the last axis (NumPy arrays, lists or torch
  tensors; a torch input gives a torch output and keeps its gradient). A
  negative entry or a vector that does not sum to 1 raises ``ValueError``
  naming the argument; where ``q = 0 < p`` the cross-entropy and the
  divergence are ``+inf``, as the formula says.
* :func:`gaussian_kl` is the closed-form KL divergence between two univariate
  Gaussians, elementwise, or between two diagonal Gaussians (``dim=-1``).
* :func:`mutual_information` reads a joint probability table;
  :func:`histogram_mutual_information` is the plug-in estimate from binned
  samples and :func:`ksg_mutual_information` the k-nearest-neighbour estimator
  of Kraskov, Stögbauer and Grassberger (their algorithm 1, the one behind
  ``sklearn.feature_selection.mutual_info_regression``).

>>> round(float(entropy([0.5, 0.5])), 6)          # log 2
0.693147
>>> round(float(kl_divergence([0.5, 0.5], [0.9, 0.1])), 4)
0.5108
>>> float(kl_divergence([0.5, 0.5], [1.0, 0.0]))
inf
>>> round(float(mutual_information([[0.5, 0.0], [0.0, 0.5]])), 6)   # X determines Y: I = H(X) = log 2
0.693147
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import special
from scipy.spatial import cKDTree

__all__ = ["entropy", "cross_entropy", "kl_divergence", "gaussian_kl", "mutual_information",
           "histogram_mutual_information", "ksg_mutual_information"]


def _as_array(x, name: str):
    """A torch tensor stays one (floating point); anything else becomes a float64 NumPy array."""
    if isinstance(x, torch.Tensor):
        if not torch.is_floating_point(x):
            x = x.double()
        return x
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 0:
        raise ValueError(f"{name} must be a probability vector (at least 1-D), got a scalar")
    return a


def _check_distribution(p, name: str):
    """Raise ValueError naming ``name`` for a negative entry, a NaN, or a vector that does not sum to 1."""
    p = _as_array(p, name)
    if p.ndim == 0 or p.shape[-1] == 0:
        raise ValueError(f"{name} must be a non-empty probability vector along its last axis, "
                         f"got shape {tuple(p.shape)}")
    v = p.detach().cpu().double().numpy() if isinstance(p, torch.Tensor) else p
    if np.isnan(v).any():
        raise ValueError(f"{name} has a NaN entry at index {_index(np.argwhere(np.isnan(v))[0])}")
    if (v < 0).any():
        raise ValueError(f"{name} has a negative entry at index {_index(np.argwhere(v < 0)[0])}")
    single = isinstance(p, torch.Tensor) and p.dtype != torch.float64
    tol = 1e-4 if single else 1e-6                 # float32 sums of many entries drift by ~1e-7 per entry
    sums = v.sum(-1)
    bad = np.abs(sums - 1) > tol
    if bad.any():
        where = np.argwhere(np.atleast_1d(bad))[0]
        s = np.atleast_1d(sums)[tuple(where)]
        row = "" if v.ndim == 1 else f" (row {_index(where)})"
        raise ValueError(f"{name} sums to {s:.4g}, not 1{row}")
    return p


def _index(idx) -> str:
    idx = tuple(int(i) for i in idx)
    return str(idx[0]) if len(idx) == 1 else str(idx)


def _xlogy(x, y):
    return torch.xlogy(x, y) if isinstance(x, torch.Tensor) else special.xlogy(x, y)


def _pair(p, q):
    p, q = _check_distribution(p, "p"), _check_distribution(q, "q")
    if p.shape[-1] != q.shape[-1]:
        raise ValueError(f"p and q must have the same number of outcomes along the last axis, "
                         f"got shapes {tuple(p.shape)} and {tuple(q.shape)}")
    if isinstance(p, torch.Tensor) != isinstance(q, torch.Tensor):   # mixed inputs: compute in torch
        p, q = (torch.as_tensor(t, dtype=torch.float64) for t in (p, q))
    return p, q


def entropy(p):
    """H(p) = −Σ_k p_k log p_k along the last axis, in nats, with 0 log 0 = 0. Taught in p5-1.1.

    >>> round(float(entropy([0.25] * 4)), 6) == round(math.log(4), 6)
    True
    >>> entropy(torch.tensor([[1.0, 0.0], [0.5, 0.5]]))
    tensor([0.0000, 0.6931])
    >>> entropy([0.5, 0.6])
    Traceback (most recent call last):
    ...
    ValueError: p sums to 1.1, not 1
    """
    p = _check_distribution(p, "p")
    return 0.0 - _xlogy(p, p).sum(-1)           # 0.0 − … turns a −0.0 into 0.0


def cross_entropy(p, q):
    """H(p, q) = −Σ_k p_k log q_k along the last axis, in nats; ``+inf`` where q_k = 0 < p_k. Taught in p5-1.2.

    >>> round(float(cross_entropy([1.0, 0.0], [0.5, 0.5])), 6)
    0.693147
    >>> cross_entropy([0.1, 0.9], [-0.1, 1.1])
    Traceback (most recent call last):
    ...
    ValueError: q has a negative entry at index 0
    """
    p, q = _pair(p, q)
    return 0.0 - _xlogy(p, q).sum(-1)


def kl_divergence(p, q):
    """KL(p ‖ q) = Σ_k p_k log(p_k / q_k) along the last axis, in nats. Taught in p5-1.2.

    Zero exactly when q = p, ``+inf`` where q_k = 0 < p_k, and in general
    different from KL(q ‖ p).

    >>> p, q = [0.9, 0.1], [0.5, 0.5]
    >>> round(float(kl_divergence(p, q)), 4), round(float(kl_divergence(q, p)), 4)
    (0.3681, 0.5108)
    """
    p, q = _pair(p, q)
    return (_xlogy(p, p) - _xlogy(p, q)).sum(-1)


def gaussian_kl(mu_p, sigma_p, mu_q, sigma_q, dim: int | None = None):
    """KL(N(μ_p, σ_p²) ‖ N(μ_q, σ_q²)) = log(σ_q/σ_p) + (σ_p² + (μ_p − μ_q)²) / (2σ_q²) − ½. Taught in p5-1.2.

    Elementwise for univariate Gaussians (the arguments broadcast); with
    ``dim=-1`` the per-coordinate terms are summed, which is the divergence
    between two diagonal Gaussians. ``sigma_*`` are standard deviations and
    must be positive. Torch inputs give torch outputs (differentiable).

    >>> round(float(gaussian_kl(0.0, 1.0, 1.0, 1.0)), 6)       # ½ (μ_p − μ_q)² for equal unit variances
    0.5
    >>> gaussian_kl(torch.zeros(2, 3), torch.ones(2, 3), torch.zeros(2, 3), torch.ones(2, 3), dim=-1)
    tensor([0., 0.])
    """
    torch_in = any(isinstance(a, torch.Tensor) for a in (mu_p, sigma_p, mu_q, sigma_q))
    conv = (lambda a: torch.as_tensor(a, dtype=torch.float64) if not isinstance(a, torch.Tensor) else a) \
        if torch_in else (lambda a: np.asarray(a, dtype=np.float64))
    mu_p, sigma_p, mu_q, sigma_q = map(conv, (mu_p, sigma_p, mu_q, sigma_q))
    for name, s in (("sigma_p", sigma_p), ("sigma_q", sigma_q)):
        bad = ~(s > 0)
        if bool(bad.any()):
            worst = float(s[bad].min()) if s.ndim else float(s)
            raise ValueError(f"{name} must be a positive standard deviation, got {worst} (pass σ, not log σ²)")
    log = torch.log if torch_in else np.log
    kl = log(sigma_q / sigma_p) + (sigma_p ** 2 + (mu_p - mu_q) ** 2) / (2 * sigma_q ** 2) - 0.5
    return kl if dim is None else kl.sum(dim)


def mutual_information(joint):
    """I(X; Y) = Σ_xy p(x, y) log[p(x, y) / (p(x) p(y))] from a joint table (..., n_x, n_y). Taught in p5-1.4.

    Equal to KL(p(x, y) ‖ p(x) p(y)) and to H(X) + H(Y) − H(X, Y).

    >>> round(float(mutual_information([[0.25, 0.25], [0.25, 0.25]])), 12)   # independent
    0.0
    """
    joint = _as_array(joint, "joint")
    if joint.ndim < 2:
        raise ValueError(f"joint must be a table of shape (..., n_x, n_y), got shape {tuple(joint.shape)}")
    flat = joint.reshape(*joint.shape[:-2], -1)
    _check_distribution(flat, "joint")
    px, py = joint.sum(-1)[..., :, None], joint.sum(-2)[..., None, :]      # marginals (..., n_x, 1), (..., 1, n_y)
    terms = _xlogy(joint, joint) - _xlogy(joint, px * py)
    return terms.sum(-1).sum(-1)


def _samples(x, y):
    x = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
    y = np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(f"x and y must be 1-D samples of equal length, got shapes {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("x and y must be finite")
    return x, y


def histogram_mutual_information(x, y, bins: int) -> float:
    """The plug-in estimate: I of the empirical joint table of (x, y) on a bins × bins grid. Taught in p5-1.4.

    Equal to ``sklearn.metrics.mutual_info_score`` on the bin labels. Biased
    upwards: with n samples and B² cells it adds about (B − 1)² / (2n) nats
    to an independent pair.

    >>> x = np.arange(100.0)
    >>> round(histogram_mutual_information(x, x, bins=4), 6) == round(math.log(4), 6)
    True
    """
    x, y = _samples(x, y)
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    counts, _, _ = np.histogram2d(x, y, bins=bins)
    return float(mutual_information(counts / counts.sum()))


def ksg_mutual_information(x, y, k: int = 3) -> float:
    """Kraskov–Stögbauer–Grassberger estimate of I(X; Y) from paired samples (algorithm 1). Taught in p5-1.4.

    With ε_i the max-norm distance from (x_i, y_i) to its k-th nearest
    neighbour, and n_x(i), n_y(i) the numbers of other points strictly within
    ε_i in x alone and in y alone,

        Î = ψ(k) + ψ(n) − mean_i[ψ(n_x(i) + 1) + ψ(n_y(i) + 1)].

    The estimate is not clipped at 0 (scikit-learn clips it). It is not scale
    invariant: scikit-learn divides x and y by their standard deviations first.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(2000)
    >>> abs(ksg_mutual_information(x, rng.standard_normal(2000))) < 0.02     # independent: about 0
    True
    """
    x, y = _samples(x, y)
    n = len(x)
    if not 1 <= k < n:
        raise ValueError(f"k must be between 1 and n − 1 = {n - 1}, got {k}")
    xy = np.stack([x, y], 1)
    eps = cKDTree(xy).query(xy, k=k + 1, p=math.inf)[0][:, -1]      # k + 1: the point itself comes first
    r = np.nextafter(eps, 0)                                          # strictly within ε_i
    nx = cKDTree(x[:, None]).query_ball_point(x[:, None], r, p=math.inf, return_length=True) - 1
    ny = cKDTree(y[:, None]).query_ball_point(y[:, None], r, p=math.inf, return_length=True) - 1
    return float(special.digamma(k) + special.digamma(n) - np.mean(special.digamma(nx + 1) + special.digamma(ny + 1)))
