"""Probes of a loss landscape: slices, curvature, paths between minima, representation similarity.

Taught in p5-5. Every probe works on a *flat* parameter vector ``theta`` and a
function ``f(theta) -> scalar loss``, built for any ``nn.Module`` by
:func:`loss_function` (``torch.func.functional_call`` underneath), so the same
code serves a 1,000-parameter MLP and a larger network.

- :func:`filter_normalized_direction`, :func:`slice_1d`, :func:`slice_2d`: random
  slices through a minimum, scaled filter by filter (Li et al. 2018), p5-5.1;
- :func:`hvp` and :func:`top_hessian_eigenvalue`: Hessian-vector products by
  double backprop (Pearlmutter 1994) and power iteration on them, p5-5.2;
- :func:`linear_path`, :func:`bezier`, :func:`barrier`: paths between two
  minima and the height of the hill on them (Garipov et al. 2018), p5-5.4;
- :func:`linear_cka`: centred kernel alignment of two representations
  (Kornblith et al. 2019), p5-5.5.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

Loss = Callable[[Tensor], Tensor]


def _check_vector(name: str, v: Tensor, like: Tensor | None = None) -> None:
    if not isinstance(v, Tensor) or v.dim() != 1:
        shape = tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__
        raise ValueError(f"{name} must be a 1-D tensor (a flat parameter vector), got {shape}")
    if like is not None and v.shape != like.shape:
        raise ValueError(f"{name} has shape {tuple(v.shape)} but theta has shape {tuple(like.shape)}")


def flat_parameters(model: nn.Module) -> Tensor:
    """The model's parameters as one detached vector, in ``model.named_parameters()`` order.

    >>> flat_parameters(nn.Linear(3, 2)).shape
    torch.Size([8])
    """
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def loss_function(model: nn.Module, loss_fn: Callable[[Tensor, Tensor], Tensor], X: Tensor, y: Tensor) -> Loss:
    """``f(theta) = loss_fn(model_theta(X), y)`` for a flat vector ``theta``; differentiable twice.

    The model's own parameters are not changed; ``theta`` replaces them for the call.

    >>> _ = torch.manual_seed(0); m = nn.Linear(2, 2); X, y = torch.randn(5, 2), torch.tensor([0, 1, 0, 1, 1])
    >>> f = loss_function(m, nn.functional.cross_entropy, X, y)
    >>> bool(torch.isclose(f(flat_parameters(m)), nn.functional.cross_entropy(m(X), y)))
    True
    """
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]
    total = sum(sizes)

    def f(theta: Tensor) -> Tensor:
        if theta.dim() != 1 or theta.numel() != total:
            raise ValueError(f"theta must be a flat vector of {total} parameters, got shape {tuple(theta.shape)}")
        params = {n: t.view(s) for n, t, s in zip(names, theta.split(sizes), shapes)}
        return loss_fn(torch.func.functional_call(model, params, (X,)), y)

    return f


def filter_normalized_direction(model: nn.Module, generator: torch.Generator | None = None) -> Tensor:
    """A Gaussian direction rescaled so each filter has the norm of the model's filter (Li et al. 2018).

    A *filter* is one output unit's incoming weights (a row of a ``Linear`` weight,
    one output channel of a convolution). Each is scaled to the norm of the same
    filter in ``model``, so a step of 1 along the direction changes every unit by as
    much as its own size; 1-D parameters (biases, norm scales) get 0, as in the
    paper. Returns a flat vector aligned with :func:`flat_parameters`. Taught in p5-5.1.

    >>> _ = torch.manual_seed(0); m = nn.Linear(4, 3)
    >>> d = filter_normalized_direction(m, torch.Generator().manual_seed(1))
    >>> w, dw = m.weight.detach(), d[:12].view(3, 4)
    >>> bool(torch.allclose(dw.norm(dim=1), w.norm(dim=1))), bool((d[12:] == 0).all())
    (True, True)
    """
    parts = []
    for p in model.parameters():
        w = p.detach()
        if w.dim() <= 1:
            parts.append(torch.zeros_like(w).reshape(-1))
            continue
        d = torch.randn(w.shape, generator=generator, dtype=w.dtype).to(w.device)
        rows_d, rows_w = d.reshape(w.shape[0], -1), w.reshape(w.shape[0], -1)
        d = rows_d * (rows_w.norm(dim=1, keepdim=True) / (rows_d.norm(dim=1, keepdim=True) + 1e-10))
        parts.append(d.reshape(-1))
    return torch.cat(parts)


@torch.no_grad()
def slice_1d(f: Loss, theta: Tensor, direction: Tensor, alphas: Sequence[float] | Tensor) -> Tensor:
    """Losses ``f(theta + a * direction)`` for each ``a`` in ``alphas``: shape (len(alphas),). p5-5.1.

    >>> f = lambda t: (t ** 2).sum()
    >>> slice_1d(f, torch.zeros(2), torch.tensor([1.0, 0.0]), [-1.0, 0.0, 2.0]).tolist()
    [1.0, 0.0, 4.0]
    """
    _check_vector("theta", theta)
    _check_vector("direction", direction, theta)
    return torch.stack([f(theta + float(a) * direction) for a in alphas])


@torch.no_grad()
def slice_2d(f: Loss, theta: Tensor, d1: Tensor, d2: Tensor, alphas: Sequence[float] | Tensor,
             betas: Sequence[float] | Tensor) -> Tensor:
    """Losses ``f(theta + a d1 + b d2)`` on a grid: shape (len(betas), len(alphas)), rows are ``b``. p5-5.1.

    >>> f = lambda t: (t ** 2).sum()
    >>> slice_2d(f, torch.zeros(2), torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), [0.0, 1.0], [2.0]).tolist()
    [[4.0, 5.0]]
    """
    _check_vector("theta", theta)
    _check_vector("d1", d1, theta)
    _check_vector("d2", d2, theta)
    return torch.stack([torch.stack([f(theta + float(a) * d1 + float(b) * d2) for a in alphas]) for b in betas])


def hvp(f: Loss, theta: Tensor, v: Tensor) -> Tensor:
    """The Hessian-vector product ``H(theta) v`` by double backprop (Pearlmutter 1994). p5-5.2.

    One gradient with its graph kept, then the gradient of ``g · v``: about the
    cost of two backward passes, and no ``n × n`` matrix.

    >>> A = torch.tensor([[2.0, 1.0], [1.0, 3.0]])
    >>> hvp(lambda t: 0.5 * t @ A @ t, torch.ones(2), torch.tensor([1.0, 0.0])).tolist()
    [2.0, 1.0]
    """
    _check_vector("theta", theta)
    _check_vector("v", v, theta)
    theta = theta.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(f(theta), theta, create_graph=True)
    (hv,) = torch.autograd.grad(g @ v, theta)
    return hv


def top_hessian_eigenvalue(f: Loss, theta: Tensor, iters: int = 100, tol: float = 1e-6,
                           generator: torch.Generator | None = None) -> tuple[float, Tensor, int]:
    """Power iteration on Hessian-vector products: ``(eigenvalue, unit eigenvector, iterations used)``.

    Converges to the eigenvalue of largest *magnitude* (at a minimum, the
    sharpest positive curvature); the estimate is the Rayleigh quotient
    ``v·Hv``, and iteration stops when it changes by less than ``tol`` relative.
    Taught in p5-5.2.

    >>> A = torch.diag(torch.tensor([1.0, 5.0, 2.0], dtype=torch.float64))
    >>> lam, v, used = top_hessian_eigenvalue(lambda t: 0.5 * t @ A @ t, torch.zeros(3, dtype=torch.float64))
    >>> round(lam, 6), round(abs(v[1].item()), 6)
    (5.0, 1.0)
    """
    _check_vector("theta", theta)
    if not isinstance(iters, int) or iters < 1:
        raise ValueError(f"iters must be a positive int, got {iters!r}")
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol!r}")
    v = torch.randn(theta.shape, generator=generator, dtype=theta.dtype).to(theta.device)
    v = v / v.norm()
    lam = 0.0
    for i in range(1, iters + 1):
        hv = hvp(f, theta, v)
        new = float(v @ hv)                                    # Rayleigh quotient of the unit vector v
        norm = hv.norm()
        if norm == 0:
            return 0.0, v, i
        v = hv / norm
        if i > 1 and abs(new - lam) <= tol * max(abs(new), 1e-12):
            return new, v, i
        lam = new
    return lam, v, iters


def linear_path(theta_a: Tensor, theta_b: Tensor, t: float) -> Tensor:
    """The point ``(1 - t) theta_a + t theta_b`` on the segment between two minima. p5-5.4.

    >>> linear_path(torch.zeros(2), torch.ones(2), 0.25).tolist()
    [0.25, 0.25]
    """
    _check_vector("theta_a", theta_a)
    _check_vector("theta_b", theta_b, theta_a)
    return (1 - t) * theta_a + t * theta_b


def bezier(theta_a: Tensor, theta_mid: Tensor, theta_b: Tensor, t: float) -> Tensor:
    """The quadratic Bezier curve ``(1-t)² a + 2t(1-t) m + t² b`` (Garipov et al. 2018). p5-5.4.

    It passes through ``theta_a`` at ``t = 0`` and ``theta_b`` at ``t = 1``; the
    control point ``theta_mid`` is what training moves.

    >>> bezier(torch.zeros(1), torch.ones(1), torch.zeros(1), 0.5).tolist()
    [0.5]
    """
    _check_vector("theta_a", theta_a)
    _check_vector("theta_mid", theta_mid, theta_a)
    _check_vector("theta_b", theta_b, theta_a)
    return (1 - t) ** 2 * theta_a + 2 * t * (1 - t) * theta_mid + t ** 2 * theta_b


def barrier(losses: Sequence[float] | Tensor, ts: Sequence[float] | Tensor | None = None) -> float:
    """Height of the loss barrier on a path: ``max_t [L(t) - ((1 - t) L(0) + t L(1))]``. p5-5.4.

    The excess over the straight line between the endpoint losses (so two minima of
    different depth do not count as a barrier). ``ts`` defaults to an even grid on
    [0, 1] and must start at 0 and end at 1.

    >>> barrier([0.1, 0.9, 0.3])
    0.7
    """
    L = torch.as_tensor(losses, dtype=torch.float64).reshape(-1)
    if L.numel() < 2:
        raise ValueError(f"losses needs at least 2 points on the path, got {L.numel()}")
    t = torch.linspace(0, 1, L.numel(), dtype=torch.float64) if ts is None else torch.as_tensor(ts, dtype=torch.float64)
    if t.shape != L.shape or t[0] != 0 or t[-1] != 1:
        raise ValueError(f"ts must have the shape of losses {tuple(L.shape)} and run from 0 to 1, "
                         f"got shape {tuple(t.shape)}")
    return round(float((L - ((1 - t) * L[0] + t * L[-1])).max()), 12)


def linear_cka(X: Tensor, Y: Tensor) -> float:
    """Linear centred kernel alignment of two representations of the same ``n`` examples (Kornblith et al. 2019).

    ``X`` is (n, p), ``Y`` is (n, q); columns are centred, then
    ``CKA = ||Yᵀ X||²_F / (||Xᵀ X||_F ||Yᵀ Y||_F)``, in [0, 1]. It is invariant to
    orthogonal transforms and isotropic scaling of either argument, not to
    arbitrary invertible linear maps. Taught in p5-5.5.

    >>> g = torch.Generator().manual_seed(0)
    >>> X, R = torch.randn(50, 3, generator=g, dtype=torch.float64), torch.randn(3, 3, generator=g, dtype=torch.float64)
    >>> Q = torch.linalg.qr(R)[0]                              # an orthogonal matrix
    >>> round(linear_cka(X, 2 * X), 12), round(linear_cka(X, X @ Q), 12)
    (1.0, 1.0)
    """
    for name, Z in (("X", X), ("Y", Y)):
        if not isinstance(Z, Tensor) or Z.dim() != 2:
            raise ValueError(f"{name} must be a 2-D tensor (examples × features), got "
                             f"{tuple(Z.shape) if isinstance(Z, Tensor) else type(Z).__name__}")
    if X.shape[0] != Y.shape[0] or X.shape[0] < 2:
        raise ValueError(f"X and Y must hold the same n >= 2 examples, got X {tuple(X.shape)} and Y {tuple(Y.shape)}")
    X = (X - X.mean(0)).double()
    Y = (Y - Y.mean(0)).double()
    denom = torch.linalg.matrix_norm(X.T @ X) * torch.linalg.matrix_norm(Y.T @ Y)
    if denom == 0:
        raise ValueError("X or Y is constant across examples: CKA is undefined")
    return float(torch.linalg.matrix_norm(Y.T @ X) ** 2 / denom)
