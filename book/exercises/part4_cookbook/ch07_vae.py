"""Exercise checkers for p4-7 (the variational autoencoder recipe).

References: ``torch.distributions.kl_divergence`` for the Gaussian KL, the
reparameterisation z = μ + exp(½ log σ²) ⊙ ε with its gradients computed by
autograd, and the β-weighted loss built from :class:`book.generative.vae.ELBOTerms`.
Inputs include a single example, a one-dimensional latent, float64, and
variances from e^-12 to e^12.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.distributions import Normal, kl_divergence

from book.exercises import passed
from book.generative.vae import ELBOTerms


def _kl_reference(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    q = Normal(mu, (0.5 * logvar).exp())
    return kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(dim=1)


def check_gaussian_kl(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """``fn(mu, logvar)`` -> KL(N(mu, diag exp(logvar)) ‖ N(0, I)) per example, shape (N,)."""
    g = torch.Generator().manual_seed(0)
    cases = [(torch.randn(16, 8, generator=g), torch.randn(16, 8, generator=g)),
             (torch.zeros(3, 2), torch.zeros(3, 2)),                                     # q equals the prior
             (torch.tensor([[2.0]]), torch.tensor([[-1.0]])),                            # N = 1, d = 1
             (3 * torch.randn(5, 4, generator=g, dtype=torch.float64),
              4 * torch.randn(5, 4, generator=g, dtype=torch.float64))]                  # σ² from e^-12 to e^12
    for mu, logvar in cases:
        got = fn(mu.clone(), logvar.clone())
        want = _kl_reference(mu, logvar)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            raise AssertionError(f"for mu of shape {tuple(mu.shape)} expected a tensor of shape {tuple(want.shape)} "
                                 f"(one KL per example: sum over the latent dimensions only), got "
                                 f"{type(got).__name__} of shape {tuple(getattr(got, 'shape', ()))}")
        if torch.allclose(got.to(want.dtype), want, rtol=1e-5, atol=1e-5):
            continue
        if torch.allclose(got.to(want.dtype), 2 * want, rtol=1e-5, atol=1e-5):
            raise AssertionError("your KL is twice the reference: the closed form has a factor ½")
        std_as_logvar = _kl_reference(mu, 2 * logvar)       # the slip σ² = exp(2·logvar)
        if logvar.abs().sum() > 0 and torch.allclose(got.to(want.dtype), std_as_logvar, rtol=1e-5, atol=1e-5):
            raise AssertionError("your KL treats logvar as log σ: it is log σ², so σ² = exp(logvar)")
        raise AssertionError(f"KL differs from torch.distributions for mu={mu.flatten()[:3].tolist()}…: "
                             f"expected {want.flatten()[:3].tolist()}…, got {got.flatten()[:3].tolist()}…; "
                             "it is ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²)")
    passed(f"gaussian_kl equals torch.distributions.kl_divergence on {len(cases)} cases, "
           "d = 1 and float64 included")


def check_reparameterize(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """``fn(mu, logvar, eps)`` -> z = mu + exp(½ logvar) ⊙ eps, differentiable in mu and logvar."""
    g = torch.Generator().manual_seed(1)
    cases = [(torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g)),
             (torch.tensor([[0.5]]), torch.tensor([[2.0]]), torch.tensor([[-1.5]])),
             (torch.randn(2, 5, generator=g, dtype=torch.float64), torch.randn(2, 5, generator=g, dtype=torch.float64),
              torch.randn(2, 5, generator=g, dtype=torch.float64))]
    for mu0, logvar0, eps in cases:
        mu, logvar = mu0.clone().requires_grad_(), logvar0.clone().requires_grad_()
        z = fn(mu, logvar, eps)
        want = mu0 + torch.exp(0.5 * logvar0) * eps
        if not isinstance(z, torch.Tensor) or z.shape != want.shape:
            raise AssertionError(f"expected z of shape {tuple(want.shape)}, got {tuple(getattr(z, 'shape', ()))}")
        if not torch.allclose(z.detach(), want, rtol=1e-6, atol=1e-6):
            if torch.allclose(z.detach(), mu0 + torch.exp(logvar0) * eps, rtol=1e-6, atol=1e-6):
                raise AssertionError("z uses σ² where it needs σ: σ = exp(½ · logvar)")
            raise AssertionError(f"z differs from mu + exp(½ logvar) · eps: expected {want.flatten()[:3].tolist()}…, "
                                 f"got {z.detach().flatten()[:3].tolist()}…")
        if not z.requires_grad:
            raise AssertionError("no gradient reaches mu or logvar: build z from them with differentiable "
                                 "operations (no .detach(), no torch.no_grad(), no sampling inside fn)")
        z.sum().backward()
        if mu.grad is None or logvar.grad is None:
            raise AssertionError("the gradient reaches only one of mu and logvar: z must depend on both")
        want_dlogvar = 0.5 * torch.exp(0.5 * logvar0) * eps
        if not (torch.allclose(mu.grad, torch.ones_like(mu0)) and torch.allclose(logvar.grad, want_dlogvar)):
            raise AssertionError("the gradients are not those of mu + exp(½ logvar) · eps: "
                                 "∂z/∂mu = 1 and ∂z/∂logvar = ½ σ ε")
    passed(f"reparameterize gives mu + σ·ε and passes ∂z/∂mu = 1, ∂z/∂logvar = ½σε on {len(cases)} cases")


def check_beta_loss(fn: Callable[[ELBOTerms, float], torch.Tensor]) -> None:
    """``fn(terms, beta)`` -> the scalar β-VAE loss: mean over examples of −log_likelihood + β · kl."""
    g = torch.Generator().manual_seed(2)
    rec = -40 * torch.rand(9, generator=g)
    kl = 5 * torch.rand(9, generator=g)
    single = ELBOTerms(torch.tensor([-12.0]), torch.tensor([-10.0]), torch.tensor([2.0]))
    cases = [(ELBOTerms(rec - kl, rec, kl), b) for b in (1.0, 0.0, 4.0, 0.25)] + [(single, 3.0)]
    for terms, beta in cases:
        got = fn(terms, beta)
        want = (-terms.log_likelihood + beta * terms.kl).mean()
        if not isinstance(got, torch.Tensor) or got.dim() != 0:
            raise AssertionError(f"the loss must be a scalar tensor (a mean over examples), got shape "
                                 f"{tuple(getattr(got, 'shape', ()))}")
        if torch.allclose(got, want, rtol=1e-6, atol=1e-6):
            continue
        if torch.allclose(got, -want, rtol=1e-6, atol=1e-6):
            raise AssertionError("the loss has the wrong sign: it is minus the (β-weighted) ELBO, to be minimised")
        if torch.allclose(got, (-beta * terms.log_likelihood + terms.kl).mean(), rtol=1e-6, atol=1e-6):
            raise AssertionError("β multiplies the KL term, not the reconstruction term")
        if torch.allclose(got, want * len(terms.kl), rtol=1e-6, atol=1e-6) and len(terms.kl) > 1:
            raise AssertionError("the loss is a sum over examples; use the mean, so the step size "
                                 "does not depend on the batch size")
        raise AssertionError(f"for beta={beta} expected {want.item():.4f}, got {got.item():.4f}: "
                             "loss = mean(−log_likelihood + β · kl)")
    passed(f"the β-VAE loss is right for β in (0, 0.25, 1, 3, 4) on {len(cases)} cases; β = 1 is −ELBO")
