"""A generative adversarial network: a generator, a discriminator and the losses of their game.

Taught in p4-8: the generator maps noise z ~ N(0, I) to a sample, the
discriminator returns one logit per sample (real versus generated), and the two
are trained in turn by two optimisers in one loop. The same classes serve a
2-D mixture of Gaussians (``data_dim=2``, no output activation) and the 8×8
digits (``data_dim=64``, a sigmoid that keeps pixels in [0, 1]). Both networks
are MLPs; the discriminator's linear layers can be spectrally normalised.

The game's value, for a discriminator D = σ(logit) and a generator G,
is E_x[log D(x)] + E_z[log(1 − D(G(z)))]. D maximises it, which is binary
cross-entropy with real = 1 and fake = 0 (:func:`discriminator_loss`). G
minimises it (the *minimax* form) or, as is done in practice, maximises
E_z[log D(G(z))] instead (the *non-saturating* form): :func:`generator_loss`.

    >>> cfg = GANConfig(data_dim=2, noise_dim=4, g_hidden=(16,), d_hidden=(16,))
    >>> _ = torch.manual_seed(0)
    >>> G, D = Generator(cfg), Discriminator(cfg)
    >>> x = sample(G, 5, torch.Generator().manual_seed(0))
    >>> x.shape, D(x).shape
    (torch.Size([5, 2]), torch.Size([5]))
    >>> zero = torch.zeros(3)                        # D(x) = σ(0) = 1/2 everywhere
    >>> round(discriminator_loss(zero, zero).item(), 4)   # 2 log 2
    1.3863
    >>> G(torch.zeros(5, 3))
    Traceback (most recent call last):
    ...
    ValueError: Generator expects noise z of shape (N, 4), got (5, 3)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

OUTPUTS = ("none", "sigmoid", "tanh")


@dataclass(frozen=True)
class GANConfig:
    """Sizes of both networks.

    ``data_dim`` coordinates per sample (2 for points, 64 for 8×8 images); ``noise_dim`` the width of z;
    ``g_hidden`` / ``d_hidden`` the hidden widths of the generator (ReLU) and the discriminator
    (LeakyReLU with ``leaky_slope``); ``output`` the generator's last activation (``"none"`` for
    unbounded coordinates, ``"sigmoid"`` for pixels in [0, 1], ``"tanh"`` for [−1, 1]);
    ``spectral_norm`` wraps every linear layer of the discriminator in spectral normalisation.
    """

    data_dim: int = 2
    noise_dim: int = 8
    g_hidden: tuple[int, ...] = (128, 128)
    d_hidden: tuple[int, ...] = (128, 128)
    output: str = "none"
    spectral_norm: bool = False
    leaky_slope: float = 0.2

    def __post_init__(self):
        if self.data_dim < 1 or self.noise_dim < 1:
            raise ValueError(f"GANConfig: need data_dim >= 1 and noise_dim >= 1, "
                             f"got data_dim={self.data_dim}, noise_dim={self.noise_dim}")
        for name in ("g_hidden", "d_hidden"):
            widths = getattr(self, name)
            if not isinstance(widths, tuple) or len(widths) == 0 or any(
                    not isinstance(h, int) or h < 1 for h in widths):
                raise ValueError(f"GANConfig: {name} must be a non-empty tuple of positive ints, got {widths!r}")
        if self.output not in OUTPUTS:
            raise ValueError(f"GANConfig: output must be one of {OUTPUTS}, got {self.output!r}")
        if not 0.0 <= self.leaky_slope < 1.0:
            raise ValueError(f"GANConfig: leaky_slope must be in [0, 1), got {self.leaky_slope}")


def _check_2d(x: torch.Tensor, width: int, who: str, what: str) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != width:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{who} expects {what} of shape (N, {width}), got {shape}")


class Generator(nn.Module):
    """z (N, noise_dim) → (Linear → ReLU) per ``g_hidden`` → Linear → ``output`` activation: (N, data_dim)."""

    def __init__(self, cfg: GANConfig):
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        width = cfg.noise_dim
        for h in cfg.g_hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, cfg.data_dim))
        if cfg.output == "sigmoid":
            layers.append(nn.Sigmoid())
        elif cfg.output == "tanh":
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_2d(z, self.cfg.noise_dim, "Generator", "noise z")
        return self.net(z)


class Discriminator(nn.Module):
    """x (N, data_dim) → (Linear → LeakyReLU) per ``d_hidden`` → Linear: one logit per sample, (N,).

    The logit is log D(x) − log(1 − D(x)); the probability D(x) = σ(logit) is never formed, so the
    losses can use the stable ``softplus`` / ``binary_cross_entropy_with_logits`` forms.
    """

    def __init__(self, cfg: GANConfig):
        super().__init__()
        self.cfg = cfg
        wrap = nn.utils.parametrizations.spectral_norm if cfg.spectral_norm else (lambda m: m)
        layers: list[nn.Module] = []
        width = cfg.data_dim
        for h in cfg.d_hidden:
            layers += [wrap(nn.Linear(width, h)), nn.LeakyReLU(cfg.leaky_slope)]
            width = h
        layers.append(wrap(nn.Linear(width, 1)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_2d(x, self.cfg.data_dim, "Discriminator", "samples x")
        return self.net(x).squeeze(1)


def _check_logits(logits: torch.Tensor, name: str) -> None:
    if not isinstance(logits, torch.Tensor) or logits.dim() != 1 or logits.numel() == 0:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"{name} must be a non-empty 1-D tensor of logits (N,), got {shape}")


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """−E[log D(x)] − E[log(1 − D(G(z)))]: binary cross-entropy with real = 1, fake = 0.

    With D = σ(ℓ): −log σ(ℓ) = softplus(−ℓ) and −log(1 − σ(ℓ)) = softplus(ℓ), each mean taken over its
    own batch (the two batches may differ in size). Equal to
    ``F.binary_cross_entropy_with_logits(real, ones) + F.binary_cross_entropy_with_logits(fake, zeros)``.
    """
    _check_logits(real_logits, "real_logits")
    _check_logits(fake_logits, "fake_logits")
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor, non_saturating: bool = True) -> torch.Tensor:
    """The generator's loss on the discriminator's logits for generated samples.

    * non-saturating (default): −E[log D(G(z))] = mean softplus(−ℓ), binary cross-entropy with the
      fakes labelled real. Its gradient in ℓ is σ(ℓ) − 1 ≈ −1 when D rejects the fakes (ℓ ≪ 0),
      so the generator learns fastest exactly when it is worst.
    * minimax (``non_saturating=False``): E[log(1 − D(G(z)))] = −mean softplus(ℓ), the game's own
      term. Its gradient in ℓ is −σ(ℓ) ≈ 0 when ℓ ≪ 0: it saturates early in training.

    Both are minimised by the generator and share their fixed point; they differ in gradient scale.
    """
    _check_logits(fake_logits, "fake_logits")
    if non_saturating:
        return F.softplus(-fake_logits).mean()
    return -F.softplus(fake_logits).mean()


def sample(generator: Generator, n: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` samples (n, data_dim) from z ~ N(0, I) drawn with ``gen``, without gradients.

    The noise is drawn on ``gen``'s device (the CPU for a plain ``torch.Generator()``) and moved to the
    generator's, so one seed gives the same z on every device. The module's train/eval mode is not changed.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"sample: n must be a positive int, got {n!r}")
    if not isinstance(gen, torch.Generator):
        raise ValueError(f"sample: gen must be a torch.Generator, got {type(gen).__name__}")
    device = next(generator.parameters()).device
    z = torch.randn(n, generator.cfg.noise_dim, generator=gen, device=gen.device).to(device)
    with torch.no_grad():
        return generator(z)


__all__ = ["GANConfig", "Generator", "Discriminator", "discriminator_loss", "generator_loss", "sample"]
