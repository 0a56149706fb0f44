"""book.generative.gan: shapes, validation, the losses against binary cross-entropy, determinism."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import pytest
import torch
from torch.nn import functional as F

from book.formats import checkpoint
from book.generative.gan import Discriminator, GANConfig, Generator, discriminator_loss, generator_loss, sample

SMALL = GANConfig(data_dim=2, noise_dim=3, g_hidden=(7, 5), d_hidden=(9,))


def test_shapes_and_output_ranges():
    torch.manual_seed(0)
    for cfg in (SMALL, replace(SMALL, data_dim=64, output="sigmoid"), replace(SMALL, output="tanh")):
        G, D = Generator(cfg), Discriminator(cfg)
        x = G(10 * torch.randn(33, cfg.noise_dim))
        assert x.shape == (33, cfg.data_dim) and D(x).shape == (33,)
        if cfg.output == "sigmoid":
            assert x.min() >= 0 and x.max() <= 1
        if cfg.output == "tanh":
            assert x.abs().max() <= 1
    assert Generator(SMALL)(torch.zeros(1, 3)).shape == (1, 2)       # a single sample


def test_parameter_counts_follow_the_widths():
    G, D = Generator(SMALL), Discriminator(SMALL)
    assert sum(p.numel() for p in G.parameters()) == (3 + 1) * 7 + (7 + 1) * 5 + (5 + 1) * 2
    assert sum(p.numel() for p in D.parameters()) == (2 + 1) * 9 + (9 + 1) * 1


@pytest.mark.parametrize("kwargs, match", [
    ({"data_dim": 0}, "data_dim"), ({"noise_dim": 0}, "noise_dim"), ({"g_hidden": ()}, "g_hidden"),
    ({"d_hidden": (4, 0)}, "d_hidden"), ({"g_hidden": [4]}, "g_hidden"), ({"output": "relu"}, "output"),
    ({"leaky_slope": 1.0}, "leaky_slope")])
def test_config_is_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GANConfig(**kwargs)


def test_bad_inputs_name_the_shapes():
    G, D = Generator(SMALL), Discriminator(SMALL)
    with pytest.raises(ValueError, match=r"noise z of shape \(N, 3\), got \(4, 2\)"):
        G(torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"samples x of shape \(N, 2\), got \(4, 1, 2\)"):
        D(torch.zeros(4, 1, 2))
    with pytest.raises(ValueError, match=r"real_logits .*\(4, 1\)"):
        discriminator_loss(torch.zeros(4, 1), torch.zeros(4))
    with pytest.raises(ValueError, match="fake_logits"):
        generator_loss(torch.zeros(0))
    with pytest.raises(ValueError, match="n must be a positive int"):
        sample(G, 0, torch.Generator())
    with pytest.raises(ValueError, match="torch.Generator"):
        sample(G, 3, 0)


def test_losses_equal_binary_cross_entropy_with_logits():
    g = torch.Generator().manual_seed(1)
    real, fake = 4 * torch.randn(1823, generator=g), 4 * torch.randn(781, generator=g) - 3
    bce = F.binary_cross_entropy_with_logits
    want_d = bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake))
    torch.testing.assert_close(discriminator_loss(real, fake), want_d)
    torch.testing.assert_close(generator_loss(fake), bce(fake, torch.ones_like(fake)))
    torch.testing.assert_close(generator_loss(fake, non_saturating=False), -bce(fake, torch.zeros_like(fake)))
    sure = torch.tensor([-200.0, 200.0])
    assert torch.isfinite(discriminator_loss(sure, sure)) and torch.isfinite(generator_loss(sure))
    half = discriminator_loss(torch.zeros(5), torch.zeros(3)).item()       # D = 1/2 everywhere: 2 log 2
    assert abs(half - 2 * torch.log(torch.tensor(2.0)).item()) < 1e-6


def test_non_saturating_gradient_is_large_where_the_minimax_one_vanishes():
    ell = torch.tensor([-8.0], requires_grad=True)            # D(G(z)) ≈ 3e-4: the fake is rejected
    (g_ns,) = torch.autograd.grad(generator_loss(ell), ell)
    (g_mm,) = torch.autograd.grad(generator_loss(ell, non_saturating=False), ell)
    torch.testing.assert_close(g_ns, torch.sigmoid(ell.detach()) - 1)
    torch.testing.assert_close(g_mm, -torch.sigmoid(ell.detach()))
    assert g_ns.abs() > 1000 * g_mm.abs()


def test_sample_is_deterministic_and_leaves_no_graph():
    torch.manual_seed(0)
    G = Generator(SMALL)
    a = sample(G, 50, torch.Generator().manual_seed(3))
    b = sample(G, 50, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not a.requires_grad
    assert not torch.equal(a, sample(G, 50, torch.Generator().manual_seed(4)))
    torch.manual_seed(0)
    assert torch.equal(Generator(SMALL).net[0].weight, G.net[0].weight)      # seeded init


def test_spectral_norm_bounds_each_layer():
    torch.manual_seed(0)
    D = Discriminator(replace(SMALL, d_hidden=(32, 16), spectral_norm=True)).train()
    for _ in range(30):                                       # power iterations run in training mode
        D(torch.randn(8, 2))
    linears = [m for m in D.net if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 3
    for m in linears:
        assert abs(torch.linalg.matrix_norm(m.weight.detach(), ord=2).item() - 1.0) < 1e-2


def test_generator_round_trips_through_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    G = Generator(replace(SMALL, data_dim=64, output="sigmoid"))
    path = checkpoint.save(G, tmp_path / "g.safetensors", {"config": json.dumps(asdict(G.cfg))})
    stored = json.loads(checkpoint.read_metadata(path)["config"])
    fresh = Generator(GANConfig(**{**stored, "g_hidden": tuple(stored["g_hidden"]),
                                   "d_hidden": tuple(stored["d_hidden"])}))
    checkpoint.load(fresh, path)
    assert fresh.cfg == G.cfg
    same = [sample(m, 9, torch.Generator().manual_seed(0)) for m in (fresh, G)]
    assert torch.equal(*same)
    with pytest.raises(ValueError, match=r"net.0.weight.*\(7, 3\).*\(7, 4\)"):
        checkpoint.load(Generator(replace(G.cfg, noise_dim=4)), path)


def test_a_few_steps_of_the_game_lower_the_discriminator_loss():
    torch.manual_seed(0)
    G, D = Generator(SMALL), Discriminator(SMALL)
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-2, betas=(0.5, 0.999))
    real = torch.randn(256, 2) * 0.1 + torch.tensor([3.0, 0.0])
    fake = sample(G, 256, torch.Generator().manual_seed(0))
    before = discriminator_loss(D(real), D(fake)).item()
    for _ in range(50):
        loss = discriminator_loss(D(real), D(fake))
        opt_d.zero_grad()
        loss.backward()
        opt_d.step()
    assert loss.item() < before / 2
