"""A variational autoencoder for small images with pixels in [0, 1] (the 8×8 digits).

Taught in p4-7. An encoder maps an image x to the mean μ(x) and log-variance
log σ²(x) of a diagonal Gaussian q(z | x) over a latent vector z; a decoder maps z
to one logit per pixel, the parameters of independent Bernoulli distributions
p(x | z). Training maximises the evidence lower bound (ELBO) on log p(x),

    ELBO(x) = E_{z ~ q(z|x)}[log p(x | z)] − KL(q(z | x) ‖ N(0, I)),

estimated with the reparameterisation z = μ + σ ⊙ ε, ε ~ N(0, I), so that the
sampling step has a gradient. The KL term has a closed form (:func:`gaussian_kl`).

The Bernoulli decoder is the usual choice for these images (Kingma and Welling
2014 used it on MNIST): its log-likelihood is minus the binary cross-entropy
with logits, evaluated on the grey levels. For pixels strictly between 0 and 1
this is not a normalised density over grey levels (the Bernoulli is a
distribution over {0, 1}), so the ELBO in nats is a training objective and a
number to compare VAEs by, not the log-likelihood of a density over [0, 1]^64;
the decoder's *mean*, sigmoid(logits), is the reconstruction one looks at.

The model is general enough for the latent-variable chapter to reuse:
``latent_dim=2`` gives a latent map, :meth:`VAE.elbo` takes several samples of z,
and :meth:`VAE.importance_log_likelihood` gives the importance-sampled estimate
of log p(x) that tightens the bound as the number of samples grows.

    >>> import torch
    >>> torch.manual_seed(0) and None
    >>> vae = VAE(VAEConfig(hidden=(32,), latent_dim=2))
    >>> x = torch.rand(5, 8, 8)                       # (N, 8, 8) or (N, 64)
    >>> mu, logvar = vae.encode(x)
    >>> mu.shape, vae.decode(mu).shape
    (torch.Size([5, 2]), torch.Size([5, 64]))
    >>> terms = vae.elbo(x, generator=torch.Generator().manual_seed(0))
    >>> bool(torch.allclose(terms.elbo, terms.log_likelihood - terms.kl)), bool((terms.kl >= 0).all())
    (True, True)
    >>> vae.sample(3, generator=torch.Generator().manual_seed(0)).shape
    torch.Size([3, 64])
    >>> vae.encode(torch.rand(5, 7, 7))
    Traceback (most recent call last):
    ...
    ValueError: VAE.encode: x must be (N, 64) or (N, 8, 8) with 64 pixels per image, got shape (5, 7, 7)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class VAEConfig:
    """Sizes of the VAE: ``n_pixels`` → each of ``hidden`` → 2·``latent_dim`` (μ and log σ²) in the
    encoder, and ``latent_dim`` → each of ``reversed(hidden)`` → ``n_pixels`` logits in the decoder."""

    n_pixels: int = 64
    hidden: tuple[int, ...] = (256, 128)
    latent_dim: int = 8

    def __post_init__(self):
        if not isinstance(self.hidden, tuple):
            raise ValueError(f"VAEConfig: hidden must be a tuple of widths, got {type(self.hidden).__name__} "
                             f"{self.hidden!r} (a JSON round trip gives a list: convert it with tuple(...))")
        if self.n_pixels < 1 or self.latent_dim < 1 or any(h < 1 for h in self.hidden):
            raise ValueError(f"VAEConfig: need n_pixels >= 1, latent_dim >= 1 and hidden sizes >= 1, got "
                             f"n_pixels={self.n_pixels}, hidden={self.hidden}, latent_dim={self.latent_dim}")


class ELBOTerms(NamedTuple):
    """Per-example terms of the bound, each of shape (N,), in nats:
    ``elbo = log_likelihood − kl``; ``log_likelihood`` is the Monte Carlo estimate of
    E_q[log p(x | z)] (the reconstruction term), ``kl`` is KL(q(z | x) ‖ N(0, I)) in closed form."""

    elbo: torch.Tensor
    log_likelihood: torch.Tensor
    kl: torch.Tensor


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag σ²) ‖ N(0, I)) per example: ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²), shape (N,).

    ``mu`` and ``logvar`` are (N, d). Taught in p4-7.

        >>> gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)).tolist()
        [0.0, 0.0]
        >>> gaussian_kl(torch.tensor([[1.0]]), torch.tensor([[0.0]])).tolist()    # ½ μ²
        [0.5]
    """
    if mu.shape != logvar.shape or mu.dim() != 2:
        raise ValueError(f"gaussian_kl: mu and logvar must both be (N, d), got {tuple(mu.shape)} "
                         f"and {tuple(logvar.shape)}")
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | z) of independent Bernoulli pixels with ``logits`` (N, D), summed over pixels: shape (N,).

    It is minus the binary cross-entropy with logits (the numerically stable form), with the
    grey levels ``x`` (N, D) in [0, 1] as targets. Taught in p4-7.
    """
    if logits.shape != x.shape:
        raise ValueError(f"bernoulli_log_likelihood: logits {tuple(logits.shape)} and x {tuple(x.shape)} differ")
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)


def _mlp(widths: tuple[int, ...]) -> nn.Sequential:
    """Linear → ReLU between consecutive widths; no activation after the last Linear."""
    layers: list[nn.Module] = []
    for i, (d_in, d_out) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Linear(d_in, d_out))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """Gaussian encoder q(z | x) = N(μ(x), diag σ²(x)), prior N(0, I), Bernoulli decoder p(x | z).

    ``encoder`` maps (N, n_pixels) → (N, 2·latent_dim), split into μ and log σ²; ``decoder``
    maps (N, latent_dim) → (N, n_pixels) logits. Taught in p4-7.
    """

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = _mlp((cfg.n_pixels, *cfg.hidden, 2 * cfg.latent_dim))
        self.decoder = _mlp((cfg.latent_dim, *reversed(cfg.hidden), cfg.n_pixels))

    def _flat(self, x: torch.Tensor, where: str) -> torch.Tensor:
        n = self.cfg.n_pixels
        side = math.isqrt(n)
        shapes = f"(N, {n}) or (N, {side}, {side})" if side * side == n else f"(N, {n})"
        if x.dim() not in (2, 3) or x.shape[0] == 0 or x[0].numel() != n:
            raise ValueError(f"{where}: x must be {shapes} with {n} pixels per image, got shape {tuple(x.shape)}")
        return x.reshape(x.shape[0], n)

    def _pixels(self, x: torch.Tensor, where: str) -> torch.Tensor:
        x = self._flat(x, where)
        if not ((x >= 0) & (x <= 1)).all():
            raise ValueError(f"{where}: pixels must lie in [0, 1] (the Bernoulli decoder's targets), "
                             f"got values in [{x.min().item():.3g}, {x.max().item():.3g}]")
        return x

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """μ and log σ² of q(z | x), each (N, latent_dim), for images ``x`` (N, n_pixels) or (N, 8, 8)."""
        mu, logvar = self.encoder(self._flat(x, "VAE.encode")).chunk(2, dim=1)
        return mu, logvar

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """z = μ + σ ⊙ ε with ε ~ N(0, I) drawn from ``generator``: a sample of q(z | x) that is a
        differentiable function of μ and log σ² (the reparameterisation trick). Shape of ``mu``."""
        if mu.shape != logvar.shape or mu.dim() != 2 or mu.shape[1] != self.cfg.latent_dim:
            raise ValueError(f"VAE.reparameterize: mu and logvar must both be (N, {self.cfg.latent_dim}), "
                             f"got {tuple(mu.shape)} and {tuple(logvar.shape)}")
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        return mu + torch.exp(0.5 * logvar) * eps

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits (N, n_pixels) of p(x | z) for latents ``z`` (N, latent_dim); sigmoid gives the mean."""
        if z.dim() != 2 or z.shape[1] != self.cfg.latent_dim:
            raise ValueError(f"VAE.decode: z must be (N, {self.cfg.latent_dim}), got shape {tuple(z.shape)}")
        return self.decoder(z)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One pass: (logits (N, n_pixels), μ, log σ²) with z drawn once by :meth:`reparameterize`."""
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar, generator)), mu, logvar

    def elbo(self, x: torch.Tensor, n_samples: int = 1, generator: torch.Generator | None = None) -> ELBOTerms:
        """The ELBO of each image ``x`` (N, n_pixels) or (N, 8, 8), pixels in [0, 1]: :class:`ELBOTerms`.

        The reconstruction term averages log p(x | z) over ``n_samples`` draws of z per image;
        the KL term is exact. The training loss is ``-elbo(x).elbo.mean()``.
        """
        if n_samples < 1:
            raise ValueError(f"VAE.elbo: n_samples must be >= 1, got {n_samples}")
        x = self._pixels(x, "VAE.elbo")
        mu, logvar = self.encode(x)
        n, d = mu.shape
        mu_k, logvar_k = mu.repeat(n_samples, 1), logvar.repeat(n_samples, 1)       # (K·N, d), sample-major
        z = self.reparameterize(mu_k, logvar_k, generator)
        rec = bernoulli_log_likelihood(self.decode(z), x.repeat(n_samples, 1))      # (K·N,)
        rec = rec.view(n_samples, n).mean(dim=0)                                     # (N,)
        kl = gaussian_kl(mu, logvar)
        return ELBOTerms(rec - kl, rec, kl)

    @torch.no_grad()
    def importance_log_likelihood(self, x: torch.Tensor, n_samples: int = 100,
                                  generator: torch.Generator | None = None) -> torch.Tensor:
        """An estimate of log p(x) per image, shape (N,), from ``n_samples`` draws z_k ~ q(z | x):

            log (1/K) Σ_k p(x | z_k) p(z_k) / q(z_k | x).

        Its expectation is a lower bound on log p(x) that rises with K and is never below the
        ELBO's (Burda et al. 2016). With the Bernoulli decoder on grey levels, the caveat of the
        module docstring applies.
        """
        if n_samples < 1:
            raise ValueError(f"VAE.importance_log_likelihood: n_samples must be >= 1, got {n_samples}")
        x = self._pixels(x, "VAE.importance_log_likelihood")
        mu, logvar = self.encode(x)
        n, d = mu.shape
        mu_k, logvar_k = mu.repeat(n_samples, 1), logvar.repeat(n_samples, 1)
        z = self.reparameterize(mu_k, logvar_k, generator)                           # (K·N, d)
        log_px_z = bernoulli_log_likelihood(self.decode(z), x.repeat(n_samples, 1))
        log2pi = math.log(2 * math.pi)
        log_pz = -0.5 * (z.pow(2) + log2pi).sum(dim=1)
        log_qz = -0.5 * ((z - mu_k).pow(2) / logvar_k.exp() + logvar_k + log2pi).sum(dim=1)
        log_w = (log_px_z + log_pz - log_qz).view(n_samples, n)                       # (K, N)
        return torch.logsumexp(log_w, dim=0) - math.log(n_samples)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The decoder's mean image sigmoid(decode(μ(x))) for each image ``x``: (N, n_pixels), no sampling."""
        mu, _ = self.encode(x)
        return torch.sigmoid(self.decode(mu))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, binary: bool = False) -> torch.Tensor:
        """``n`` images (n, n_pixels) from the model: z ~ N(0, I), then the decoder's mean sigmoid(logits),
        or with ``binary`` one Bernoulli draw per pixel (from the same ``generator``)."""
        if n < 1:
            raise ValueError(f"VAE.sample: n must be >= 1, got {n}")
        p = next(self.parameters())
        z = torch.randn(n, self.cfg.latent_dim, generator=generator, dtype=p.dtype, device=p.device)
        mean = torch.sigmoid(self.decode(z))
        return torch.bernoulli(mean, generator=generator) if binary else mean


def num_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["ELBOTerms", "VAE", "VAEConfig", "bernoulli_log_likelihood", "gaussian_kl", "num_params"]
