"""book.generative.vae: shapes, the closed-form KL against torch.distributions, the ELBO's pieces,
the importance-sampled bound, determinism and input errors."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from book.generative.vae import VAE, VAEConfig, bernoulli_log_likelihood, gaussian_kl, num_params


def _model(latent_dim: int = 3, hidden: tuple[int, ...] = (16, 8)) -> VAE:
    torch.manual_seed(0)
    return VAE(VAEConfig(hidden=hidden, latent_dim=latent_dim)).eval()


def test_config_is_validated():
    with pytest.raises(ValueError, match="latent_dim"):
        VAEConfig(latent_dim=0)
    with pytest.raises(ValueError, match="hidden"):
        VAEConfig(hidden=(16, 0))
    with pytest.raises(ValueError, match="tuple"):
        VAEConfig(hidden=[16])


@pytest.mark.parametrize("latent_dim,hidden", [(2, (32,)), (5, (16, 8)), (1, ())])
def test_shapes_and_parameter_count(latent_dim, hidden):
    m = _model(latent_dim, hidden)
    x = torch.rand(7, 64)
    mu, logvar = m.encode(x.view(7, 8, 8))
    assert mu.shape == logvar.shape == (7, latent_dim)
    assert m.decode(mu).shape == (7, 64)
    logits, mu2, _ = m(x)
    assert logits.shape == (7, 64) and torch.equal(mu, mu2)
    enc = (64, *hidden, 2 * latent_dim)
    dec = (latent_dim, *reversed(hidden), 64)
    assert num_params(m) == sum((a + 1) * b for w in (enc, dec) for a, b in zip(w, w[1:]))


def test_gaussian_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(1)
    mu = 3 * torch.randn(11, 5, generator=g, dtype=torch.float64)
    logvar = 4 * torch.randn(11, 5, generator=g, dtype=torch.float64)            # σ² from e^-12 to e^12
    ref = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(1)
    torch.testing.assert_close(gaussian_kl(mu, logvar), ref, rtol=1e-10, atol=1e-10)
    assert torch.equal(gaussian_kl(torch.zeros(2, 4), torch.zeros(2, 4)), torch.zeros(2))
    with pytest.raises(ValueError, match=r"\(3, 2\) and \(3, 4\)"):
        gaussian_kl(torch.zeros(3, 2), torch.zeros(3, 4))


def test_bernoulli_log_likelihood_is_minus_bce_on_grey_levels():
    g = torch.Generator().manual_seed(2)
    logits, x = 5 * torch.randn(4, 64, generator=g), torch.rand(4, 64, generator=g)
    p = torch.sigmoid(logits.double())
    ref = (x * p.log() + (1 - x) * (1 - p).log()).sum(1)
    torch.testing.assert_close(bernoulli_log_likelihood(logits, x).double(), ref, rtol=1e-4, atol=1e-3)


def test_elbo_terms_are_consistent_and_repeatable():
    m, x = _model(), torch.rand(6, 64, generator=torch.Generator().manual_seed(3))
    a = m.elbo(x, n_samples=4, generator=torch.Generator().manual_seed(0))
    b = m.elbo(x, n_samples=4, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(s, t) for s, t in zip(a, b))
    assert torch.allclose(a.elbo, a.log_likelihood - a.kl)
    mu, logvar = m.encode(x)
    assert torch.equal(a.kl, gaussian_kl(mu, logvar)) and (a.kl >= 0).all()
    # one sample by hand, the same ε
    z = m.reparameterize(mu, logvar, torch.Generator().manual_seed(5))
    one = m.elbo(x, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(one.log_likelihood, bernoulli_log_likelihood(m.decode(z), x))


def test_reparameterize_passes_gradients_to_mu_and_logvar():
    m = _model()
    mu = torch.zeros(3, 3, requires_grad=True)
    logvar = torch.zeros(3, 3, requires_grad=True)
    z = m.reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    z.sum().backward()
    assert torch.equal(mu.grad, torch.ones(3, 3))
    eps = torch.randn(3, 3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(logvar.grad, 0.5 * eps)          # ∂z/∂logvar = ½ σ ε with σ = 1


def test_importance_bound_tightens_the_elbo():
    m, x = _model(2, (32,)), torch.rand(8, 64, generator=torch.Generator().manual_seed(4))
    elbo = m.elbo(x, n_samples=2000, generator=torch.Generator().manual_seed(0)).elbo
    iw = m.importance_log_likelihood(x, n_samples=2000, generator=torch.Generator().manual_seed(1))
    assert iw.shape == (8,)
    assert (iw > elbo - 0.05).all()


def test_sample_is_seeded_and_in_range():
    m = _model()
    a = m.sample(5, generator=torch.Generator().manual_seed(0))
    b = m.sample(5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == (5, 64) and ((a > 0) & (a < 1)).all()
    binary = m.sample(5, generator=torch.Generator().manual_seed(0), binary=True)
    assert set(binary.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(m.reconstruct(a), torch.sigmoid(m.decode(m.encode(a)[0])))


def test_bad_inputs_are_named():
    m = _model()
    with pytest.raises(ValueError, match=r"\(N, 64\) or \(N, 8, 8\).*got shape \(4, 7, 7\)"):
        m.encode(torch.zeros(4, 7, 7))
    with pytest.raises(ValueError, match=r"z must be \(N, 3\), got shape \(4, 2\)"):
        m.decode(torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        m.elbo(torch.full((2, 64), 16.0))
    with pytest.raises(ValueError, match="n_samples"):
        m.elbo(torch.zeros(2, 64), n_samples=0)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        m.reparameterize(torch.zeros(2, 2), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="n must be"):
        m.sample(0)
