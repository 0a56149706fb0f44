"""A denoising diffusion model (DDPM): the noise schedule, the noise-prediction network, its loss and two samplers.

Taught in p4-9 (a 2-D swiss roll, then class-conditional 8×8 digits).

The forward process adds Gaussian noise in ``T`` steps, x_t = √α_t x_{t-1} + √β_t ε, so that
with α_t = 1 − β_t and ᾱ_t = Π_{s≤t} α_s it has the closed form

    q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I)                                   (Ho et al., 2020)

A network ε_θ(x_t, t[, y]) learns to predict the noise ε that produced x_t (:func:`loss`);
:func:`ddpm_sample` runs the reverse chain one step at a time (ancestral sampling) and
:func:`ddim_sample` takes a deterministic shortcut through a subset of the steps (η = 0).
A conditional model also learns an unconditional mode (the class is replaced by a "null"
class with probability ``p_uncond`` in training), which classifier-free guidance mixes in
at sampling time.

**Indexing.** Timesteps are 0-based, as in ``diffusers``: index ``t`` in 0 … T−1 is the
paper's step t + 1, so ``alpha_bars[0]`` = 1 − β_1 and the chain starts at ``t = T − 1``.

    >>> import torch
    >>> schedule = NoiseSchedule.linear(100)
    >>> schedule.T, float(schedule.alpha_bars[-1]) < 1e-3
    (100, True)
    >>> model = Denoiser(DenoiserConfig(data_dim=2, hidden=32, n_classes=0))
    >>> x0 = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    >>> loss(model, schedule, x0, generator=torch.Generator().manual_seed(1)).item() > 0
    True
    >>> ddpm_sample(model, schedule, 5, generator=torch.Generator().manual_seed(2)).shape
    torch.Size([5, 2])
    >>> NoiseSchedule(torch.full((10,), 0.01))
    Traceback (most recent call last):
    ...
    ValueError: betas: alpha_bar_T = 0.904 is not close to 0 (need < 0.01): the chain does not end in noise
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

VARIANCES = ("posterior", "beta")


def _generator_device(generator: torch.Generator | None, fallback: torch.device) -> torch.device:
    return generator.device if generator is not None else fallback


def _randn(shape, generator: torch.Generator | None, device: torch.device, dtype=torch.float32) -> torch.Tensor:
    """Standard normal noise drawn on the generator's device (so a CPU generator repeats anywhere), then moved."""
    return torch.randn(shape, generator=generator, device=_generator_device(generator, device), dtype=dtype).to(device)


class NoiseSchedule:
    """The variances β_1 … β_T of the forward process and the quantities the samplers derive from them.

    ``betas`` (T,) must lie in (0, 1), be non-decreasing (a schedule that adds *less* noise as the
    signal fades is almost always a bug), and drive ᾱ_T below ``max_final_alpha_bar`` so that x_T is
    (nearly) pure noise, the distribution the sampler starts from. Tensors are float64, (T,):

    * ``betas``, ``alphas`` = 1 − β, ``alpha_bars`` = cumulative product of α,
      ``alpha_bars_prev`` (ᾱ of the previous step, 1 before the first);
    * ``posterior_variance`` β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t, the variance of q(x_{t−1} | x_t, x_0);
    * ``posterior_mean_coef_x0`` and ``posterior_mean_coef_xt``: that posterior's mean is
      √ᾱ_{t−1} β_t / (1 − ᾱ_t) · x_0 + √α_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · x_t.

    Taught in p4-9.
    """

    def __init__(self, betas: torch.Tensor, max_final_alpha_bar: float = 0.01):
        b = torch.as_tensor(betas, dtype=torch.float64).detach().cpu()
        if b.dim() != 1 or b.numel() < 2:
            raise ValueError(f"betas must be a 1-D tensor of at least 2 values, got shape {tuple(b.shape)}")
        if not torch.isfinite(b).all() or not ((b > 0) & (b < 1)).all():
            i = int(torch.nonzero(~(torch.isfinite(b) & (b > 0) & (b < 1)))[0])
            raise ValueError(f"betas must lie in (0, 1); betas[{i}] = {float(b[i]):.4g}")
        if (b[1:] < b[:-1]).any():
            i = int(torch.nonzero(b[1:] < b[:-1])[0]) + 1
            raise ValueError(f"betas must be non-decreasing; betas[{i}] = {float(b[i]):.4g} < "
                             f"betas[{i - 1}] = {float(b[i - 1]):.4g}")
        if not 0 < max_final_alpha_bar < 1:
            raise ValueError(f"max_final_alpha_bar must lie in (0, 1), got {max_final_alpha_bar}")
        self.betas = b
        self.alphas = 1.0 - b
        self.alpha_bars = torch.cumprod(self.alphas, dim=0)
        final = float(self.alpha_bars[-1])
        if final >= max_final_alpha_bar:
            raise ValueError(f"betas: alpha_bar_T = {final:.3g} is not close to 0 (need < {max_final_alpha_bar:g}): "
                             "the chain does not end in noise")
        self.alpha_bars_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alpha_bars[:-1]])
        self.posterior_variance = (1 - self.alpha_bars_prev) / (1 - self.alpha_bars) * b
        self.posterior_mean_coef_x0 = self.alpha_bars_prev.sqrt() * b / (1 - self.alpha_bars)
        self.posterior_mean_coef_xt = self.alphas.sqrt() * (1 - self.alpha_bars_prev) / (1 - self.alpha_bars)

    @property
    def T(self) -> int:
        """The number of diffusion steps."""
        return self.betas.numel()

    @classmethod
    def linear(cls, T: int, beta_start: float | None = None, beta_end: float | None = None) -> NoiseSchedule:
        """β evenly spaced from ``beta_start`` to ``beta_end`` (Ho et al., 2020: 1e-4 to 0.02 for T = 1000).

        The defaults scale those endpoints by 1000 / T, as Nichol & Dhariwal's code does, so that a
        short chain ends as close to noise as the paper's long one (for T < 50 the scaled end would
        reach 1: pass the ends).
        """
        if not isinstance(T, int) or T < 2:
            raise ValueError(f"T must be an int >= 2, got {T!r}")
        scale = 1000 / T
        start = 1e-4 * scale if beta_start is None else beta_start
        end = 0.02 * scale if beta_end is None else beta_end
        if not 0 < start <= end < 1:
            raise ValueError(f"need 0 < beta_start <= beta_end < 1, got beta_start={start}, beta_end={end}")
        return cls(torch.linspace(start, end, T, dtype=torch.float64))

    @classmethod
    def cosine(cls, T: int, s: float = 0.008, max_beta: float = 0.999) -> NoiseSchedule:
        """ᾱ(t) = f(t) / f(0) with f(t) = cos²((t/T + s) / (1 + s) · π/2) (Nichol & Dhariwal, 2021).

        β_t = 1 − ᾱ(t)/ᾱ(t − 1), capped at ``max_beta`` (the last steps would otherwise reach 1).
        """
        if not isinstance(T, int) or T < 2:
            raise ValueError(f"T must be an int >= 2, got {T!r}")
        if not s >= 0 or not 0 < max_beta < 1:
            raise ValueError(f"need s >= 0 and 0 < max_beta < 1, got s={s}, max_beta={max_beta}")
        steps = torch.arange(T + 1, dtype=torch.float64) / T
        f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
        return cls((1 - f[1:] / f[:-1]).clamp(max=max_beta))

    def _at(self, values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """values[t] shaped (N, 1, …) to broadcast against ``like`` (N, …), in its dtype and device."""
        t = torch.as_tensor(t, device="cpu").long().reshape(-1)
        if t.numel() == 1 and like.shape[0] != 1:
            t = t.expand(like.shape[0])
        if t.numel() != like.shape[0]:
            raise ValueError(f"t must hold one timestep per row: got {t.numel()} for x of shape {tuple(like.shape)}")
        if t.numel() and (t.min() < 0 or t.max() >= self.T):
            raise ValueError(f"timesteps must lie in 0 … {self.T - 1}, got {int(t.min())} … {int(t.max())}")
        v = values[t].to(device=like.device, dtype=like.dtype)
        return v.reshape(-1, *([1] * (like.dim() - 1)))

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor | int, noise: torch.Tensor) -> torch.Tensor:
        """x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε: a draw from q(x_t | x_0) in one step, ``t`` (N,) or an int."""
        if noise.shape != x0.shape:
            raise ValueError(f"noise must have the shape of x0 {tuple(x0.shape)}, got {tuple(noise.shape)}")
        ab = self._at(self.alpha_bars, t, x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor | int, eps: torch.Tensor) -> torch.Tensor:
        """x̂_0 = (x_t − √(1 − ᾱ_t) ε̂) / √ᾱ_t: the closed form of q(x_t | x_0) solved for x_0."""
        ab = self._at(self.alpha_bars, t, x_t)
        return (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()

    def posterior(self, x_t: torch.Tensor, t: torch.Tensor | int, x0: torch.Tensor,
                  variance: str = "posterior") -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of the reverse step p(x_{t−1} | x_t) with x_0 replaced by ``x0``.

        ``variance="posterior"`` uses β̃_t (the true posterior's; ``diffusers``' ``fixed_small``),
        ``"beta"`` uses β_t (``fixed_large``). Ho et al. found both give similar samples.
        """
        if variance not in VARIANCES:
            raise ValueError(f"variance must be one of {VARIANCES}, got {variance!r}")
        mean = self._at(self.posterior_mean_coef_x0, t, x_t) * x0 + self._at(self.posterior_mean_coef_xt, t, x_t) * x_t
        var = self._at(self.posterior_variance if variance == "posterior" else self.betas, t, x_t)
        return mean, var.expand_as(x_t)

    def p_step(self, x_t: torch.Tensor, t: int, eps: torch.Tensor, noise: torch.Tensor | None,
               variance: str = "posterior", clip: float | None = None) -> torch.Tensor:
        """One ancestral step x_t → x_{t−1} = μ(x_t, x̂_0(ε̂)) + σ_t z; at ``t == 0`` no noise is added.

        ``clip``: clamp x̂_0 to [−clip, clip] first (``diffusers``' ``clip_sample``), for data known to lie
        there; it tames the first steps of a schedule whose last β is near 1, where μ amplifies the error
        of ε̂ by 1/√α_t.
        """
        x0 = self.predict_x0(x_t, t, eps)
        if clip is not None:
            x0 = x0.clamp(-clip, clip)
        mean, var = self.posterior(x_t, t, x0, variance)
        if t == 0:
            return mean
        if noise is None or noise.shape != x_t.shape:
            raise ValueError(f"noise of shape {tuple(x_t.shape)} is needed for t > 0, got "
                             f"{None if noise is None else tuple(noise.shape)}")
        return mean + var.sqrt() * noise


@dataclass(frozen=True)
class DenoiserConfig:
    """The ε-prediction MLP: ``data_dim`` inputs, ``depth`` hidden layers of ``hidden`` units (SiLU),
    a ``time_dim``-wide sinusoidal time embedding, and ``n_classes`` labels (0 = unconditional; a
    conditional model has ``n_classes + 1`` class embeddings, the last being the "null" class that
    classifier-free guidance uses)."""

    data_dim: int = 2
    hidden: int = 128
    depth: int = 3
    time_dim: int = 32
    n_classes: int = 0

    def __post_init__(self):
        for name in ("data_dim", "hidden", "depth"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"DenoiserConfig.{name} must be a positive int, got {getattr(self, name)!r}")
        if not isinstance(self.time_dim, int) or self.time_dim < 2 or self.time_dim % 2:
            raise ValueError(f"DenoiserConfig.time_dim must be an even int >= 2 (sines and cosines), "
                             f"got {self.time_dim!r}")
        if not isinstance(self.n_classes, int) or self.n_classes < 0 or self.n_classes == 1:
            raise ValueError(f"DenoiserConfig.n_classes must be 0 (unconditional) or >= 2, got {self.n_classes!r}")


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """[sin(t ω_k), cos(t ω_k)] with ω_k = max_period^(−k/(dim/2)), k = 0 … dim/2 − 1: (N,) → (N, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None]                               # (N, dim/2)
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class Denoiser(nn.Module):
    """ε_θ(x_t, t[, y]): an MLP on [x_t, c] where c = MLP(sinusoidal(t)) (+ a class embedding of y).

    ``forward(x (N, data_dim), t (N,) ints or one int, y (N,) ints or None)`` → ε̂ (N, data_dim).
    In a conditional model ``y = None`` (or ``y == null_class``) asks for the unconditional prediction.

    Taught in p4-9.
    """

    def __init__(self, cfg: DenoiserConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.time_dim
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.class_embedding = nn.Embedding(cfg.n_classes + 1, d) if cfg.n_classes else None
        layers: list[nn.Module] = []
        width = cfg.data_dim + d
        for _ in range(cfg.depth):
            layers += [nn.Linear(width, cfg.hidden), nn.SiLU()]
            width = cfg.hidden
        self.net = nn.Sequential(*layers, nn.Linear(width, cfg.data_dim))

    @property
    def null_class(self) -> int:
        """The label that stands for "no class" (classifier-free guidance); only for conditional models."""
        if not self.cfg.n_classes:
            raise ValueError("an unconditional Denoiser (n_classes=0) has no null class")
        return self.cfg.n_classes

    def forward(self, x: torch.Tensor, t: torch.Tensor | int, y: torch.Tensor | None = None) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.cfg.data_dim:
            raise ValueError(f"Denoiser expects x of shape (N, {self.cfg.data_dim}), got {tuple(x.shape)}")
        n = x.shape[0]
        t = torch.as_tensor(t, device=x.device).long().reshape(-1)
        if t.numel() == 1:
            t = t.expand(n)
        if t.shape != (n,):
            raise ValueError(f"t must be one int or shape ({n},), got {tuple(t.shape)}")
        c = self.time_mlp(sinusoidal_embedding(t, self.cfg.time_dim))     # (N, time_dim)
        if self.class_embedding is None:
            if y is not None:
                raise ValueError("this Denoiser is unconditional (n_classes=0) but was given labels y")
        else:
            if y is None:
                y = torch.full((n,), self.null_class, device=x.device, dtype=torch.long)
            y = torch.as_tensor(y, device=x.device).long().reshape(-1)
            if y.numel() == 1:
                y = y.expand(n)
            if y.shape != (n,):
                raise ValueError(f"y must be one label or shape ({n},), got {tuple(y.shape)}")
            if y.numel() and (y.min() < 0 or y.max() > self.cfg.n_classes):
                raise ValueError(f"labels y must lie in 0 … {self.cfg.n_classes - 1} (or {self.cfg.n_classes} "
                                 f"for the null class), got {int(y.min())} … {int(y.max())}")
            c = c + self.class_embedding(y)
        return self.net(torch.cat([x, c], dim=1))


def loss(model: Denoiser, schedule: NoiseSchedule, x0: torch.Tensor, y: torch.Tensor | None = None,
         p_uncond: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """The simplified DDPM objective E‖ε − ε_θ(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, t, y)‖², averaged over all elements.

    Draws, in this order and from ``generator``: t ~ U{0 … T−1} (N,), ε ~ N(0, I) like ``x0``, and, for a
    conditional model with ``p_uncond > 0``, a mask u ~ U(0, 1) (N,) that replaces y by the null class
    where u < p_uncond (label dropout, so one network also learns the unconditional ε for guidance).
    """
    if x0.dim() != 2 or x0.shape[0] == 0:
        raise ValueError(f"x0 must be a non-empty (N, D) batch, got shape {tuple(x0.shape)}")
    if not 0.0 <= p_uncond <= 1.0:
        raise ValueError(f"p_uncond must lie in [0, 1], got {p_uncond}")
    n, dev = x0.shape[0], x0.device
    gdev = _generator_device(generator, dev)
    t = torch.randint(0, schedule.T, (n,), generator=generator, device=gdev).to(dev)
    noise = _randn(x0.shape, generator, dev, x0.dtype)
    if y is not None and p_uncond > 0:
        drop = torch.rand(n, generator=generator, device=gdev).to(dev) < p_uncond
        y = torch.where(drop, torch.full_like(torch.as_tensor(y, device=dev), model.null_class),
                        torch.as_tensor(y, device=dev))
    return F.mse_loss(model(schedule.q_sample(x0, t, noise), t, y), noise)


def _check_guidance(guidance: float) -> float:
    g = float(guidance)
    if not math.isfinite(g):
        raise ValueError(f"guidance must be a finite number (1.0 = plain conditional sampling), got {guidance!r}")
    return g


def _labels(model: Denoiser, y, n: int, device) -> torch.Tensor | None:
    if y is None:
        return None
    if not model.cfg.n_classes:
        raise ValueError("this Denoiser is unconditional (n_classes=0) but was given labels y")
    y = torch.as_tensor(y, device=device).long().reshape(-1)
    if y.numel() == 1:
        y = y.expand(n)
    if y.shape != (n,):
        raise ValueError(f"y must be one label or shape ({n},) for n={n} samples, got {tuple(y.shape)}")
    return y


def guided_eps(model: Denoiser, x: torch.Tensor, t: int, y: torch.Tensor | None, guidance: float) -> torch.Tensor:
    """Classifier-free guidance: ε̃ = ε_θ(x, t, ∅) + s (ε_θ(x, t, y) − ε_θ(x, t, ∅)) with scale s = ``guidance``.

    s = 1 is the conditional model alone (one forward pass), s = 0 the unconditional one, s > 1
    pushes samples towards what distinguishes class y (Ho & Salimans' w is s − 1).
    """
    if y is None or guidance == 1.0:
        return model(x, t, y)
    both = model(torch.cat([x, x]), t, torch.cat([y, torch.full_like(y, model.null_class)]))
    cond, uncond = both.chunk(2)
    return uncond + guidance * (cond - uncond)


def _check_sampling(model: Denoiser, n: int) -> None:
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n (the number of samples) must be a positive int, got {n!r}")
    if not isinstance(model, Denoiser):
        raise ValueError(f"model must be a Denoiser, got {type(model).__name__}")


def _start_sampling(model: Denoiser, n: int, y, guidance: float, generator: torch.Generator | None):
    """What both samplers do first: check the arguments, switch to eval mode, draw x_T ~ N(0, I).

    Returns (guidance, device, whether the model was training, labels, x_T)."""
    _check_sampling(model, n)
    guidance = _check_guidance(guidance)
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    y = _labels(model, y, n, dev)
    return guidance, dev, was_training, y, _randn((n, model.cfg.data_dim), generator, dev)


@torch.no_grad()
def ddpm_sample(model: Denoiser, schedule: NoiseSchedule, n: int, y=None, guidance: float = 1.0,
                variance: str = "posterior", clip: float | None = None,
                generator: torch.Generator | None = None, return_trajectory: bool = False):
    """Ancestral sampling: x_T ~ N(0, I), then x_{t−1} = μ_θ(x_t, t) + σ_t z for t = T … 1 (no noise at the end).

    σ_t² is β̃_t (``variance="posterior"``, the default; ``diffusers``' ``fixed_small``) or β_t
    (``"beta"``). The draws, x_T and then one z per step with t > 0, come from ``generator`` in the same
    order as a ``diffusers`` ``DDPMScheduler`` loop, so the two give the same samples. ``clip``: see
    :meth:`NoiseSchedule.p_step`. ``y``: one label
    or (n,) labels for a conditional model; ``guidance``: see :func:`guided_eps`. Returns (n, data_dim),
    or with ``return_trajectory`` also every x_t, (T + 1, n, data_dim), from x_T down to x_0.
    """
    if variance not in VARIANCES:
        raise ValueError(f"variance must be one of {VARIANCES}, got {variance!r}")
    guidance, dev, was_training, y, x = _start_sampling(model, n, y, guidance, generator)
    path = [x]
    for t in range(schedule.T - 1, -1, -1):
        eps = guided_eps(model, x, t, y, guidance)
        noise = _randn(x.shape, generator, dev) if t > 0 else None
        x = schedule.p_step(x, t, eps, noise, variance, clip)
        path.append(x)
    model.train(was_training)
    return (x, torch.stack(path)) if return_trajectory else x


def ddim_timesteps(T: int, steps: int) -> list[int]:
    """The ``steps`` timesteps DDIM visits, "leading" spacing as in ``diffusers``.

    They are (steps−1)·k, …, k, 0 with k = T // steps.
    """
    if not isinstance(steps, int) or not 1 <= steps <= T:
        raise ValueError(f"steps must be an int in 1 … T={T}, got {steps!r}")
    k = T // steps
    return [i * k for i in range(steps - 1, -1, -1)]


@torch.no_grad()
def ddim_sample(model: Denoiser, schedule: NoiseSchedule, n: int, steps: int, y=None, guidance: float = 1.0,
                clip: float | None = None, generator: torch.Generator | None = None,
                return_trajectory: bool = False):
    """Deterministic DDIM sampling (η = 0; Song et al., 2021) through :func:`ddim_timesteps`.

    From x_T ~ N(0, I) (the only random draw): x_prev = √ᾱ_prev x̂_0 + √(1 − ᾱ_prev) ε̂, where ᾱ_prev is
    that of the next visited timestep, and 1 after the last (the output is then x̂_0). With ``clip``, x̂_0
    is clamped and ε̂ recomputed from it (``diffusers``' ``use_clipped_model_output``). Matches
    ``diffusers``' ``DDIMScheduler(set_alpha_to_one=True, timestep_spacing="leading")`` with eta=0.
    """
    _check_sampling(model, n)
    ts = ddim_timesteps(schedule.T, steps)
    guidance, dev, was_training, y, x = _start_sampling(model, n, y, guidance, generator)
    path = [x]
    for i, t in enumerate(ts):
        eps = guided_eps(model, x, t, y, guidance)
        x0 = schedule.predict_x0(x, t, eps)
        if clip is not None:
            x0 = x0.clamp(-clip, clip)
            eps = (x - math.sqrt(float(schedule.alpha_bars[t])) * x0) / math.sqrt(1 - float(schedule.alpha_bars[t]))
        ab_prev = float(schedule.alpha_bars[ts[i + 1]]) if i + 1 < len(ts) else 1.0
        x = math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * eps
        path.append(x)
    model.train(was_training)
    return (x, torch.stack(path)) if return_trajectory else x


def num_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["NoiseSchedule", "DenoiserConfig", "Denoiser", "sinusoidal_embedding", "loss", "guided_eps",
           "ddpm_sample", "ddim_timesteps", "ddim_sample", "num_params"]
