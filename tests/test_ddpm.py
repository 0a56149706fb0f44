"""book.generative.ddpm: schedules against their closed forms and diffusers, q_sample's moments, one DDPM
step and whole DDPM / DDIM chains against diffusers' schedulers, shapes, determinism and the errors."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from book.generative.ddpm import (
    Denoiser,
    DenoiserConfig,
    NoiseSchedule,
    ddim_sample,
    ddim_timesteps,
    ddpm_sample,
    guided_eps,
    loss,
    num_params,
)

diffusers = pytest.importorskip("diffusers")

T = 100


def _linear_pair(variance_type: str = "fixed_small"):
    ours = NoiseSchedule.linear(T)
    ref = diffusers.DDPMScheduler(num_train_timesteps=T, beta_schedule="linear", beta_start=float(ours.betas[0]),
                                  beta_end=float(ours.betas[-1]), variance_type=variance_type, clip_sample=False,
                                  prediction_type="epsilon")
    return ours, ref


def _model(**kw) -> Denoiser:
    torch.manual_seed(0)
    return Denoiser(DenoiserConfig(**{"data_dim": 2, "hidden": 32, "depth": 2, "time_dim": 16, **kw})).eval()


def test_alphas_cumprod_equal_diffusers_for_linear_and_cosine():
    ours, ref = _linear_pair()
    assert torch.allclose(ref.alphas_cumprod.double(), ours.alpha_bars, atol=1e-6)
    cos = NoiseSchedule.cosine(T)
    ref_cos = diffusers.DDPMScheduler(num_train_timesteps=T, beta_schedule="squaredcos_cap_v2")
    assert torch.allclose(ref_cos.betas.double(), cos.betas, atol=1e-6)
    assert torch.allclose(ref_cos.alphas_cumprod.double(), cos.alpha_bars, atol=1e-6)


def test_schedule_quantities_follow_their_definitions():
    s = NoiseSchedule.cosine(37)
    assert torch.allclose(s.alpha_bars, torch.tensor([math.prod(1 - b for b in s.betas[: t + 1].tolist())
                                                      for t in range(37)], dtype=torch.float64), rtol=1e-12)
    assert s.alpha_bars_prev[0] == 1 and torch.equal(s.alpha_bars_prev[1:], s.alpha_bars[:-1])
    assert s.posterior_variance[0] == 0                        # the last reverse step adds no noise
    assert torch.allclose(s.posterior_mean_coef_x0[0], torch.tensor(1.0, dtype=torch.float64))
    assert (s.betas[1:] >= s.betas[:-1]).all() and (s.posterior_variance <= s.betas).all()


@pytest.mark.parametrize("variance_type,ours_name", [("fixed_small", "posterior"), ("fixed_large", "beta")])
@pytest.mark.parametrize("t", [T - 1, 57, 1, 0])
def test_one_ddpm_step_equals_diffusers(variance_type, ours_name, t):
    ours, ref = _linear_pair(variance_type)
    g = torch.Generator().manual_seed(t)
    x_t, eps = torch.randn(33, 5, generator=g), torch.randn(33, 5, generator=g)
    theirs = ref.step(eps, t, x_t, generator=torch.Generator().manual_seed(9))
    z = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(9))
    assert torch.allclose(ours.p_step(x_t, t, eps, z, ours_name), theirs.prev_sample, atol=1e-4)
    assert torch.allclose(ours.predict_x0(x_t, t, eps), theirs.pred_original_sample, rtol=1e-4, atol=1e-4)
    mean, var = ours.posterior(x_t, t, ours.predict_x0(x_t, t, eps), ours_name)
    if t > 0:                                                  # at t = 0 neither adds noise
        assert torch.allclose(var[0, 0].double(), ref._get_variance(t).double(), rtol=1e-4, atol=1e-12)


def test_whole_ddpm_chain_equals_a_diffusers_loop_with_the_same_generator():
    ours, ref = _linear_pair()
    model = _model()
    mine = ddpm_sample(model, ours, 64, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    x = torch.randn(64, 2, generator=g)
    with torch.no_grad():
        for t in ref.timesteps:
            x = ref.step(model(x, int(t)), t, x, generator=g).prev_sample
    # float32 rounding in diffusers (it recovers beta_t as 1 - ᾱ_t/ᾱ_{t-1}) accumulates over 100 steps;
    # a wrong order of random draws would differ by O(1)
    assert (mine - x).abs().max() < 0.05


def test_ddim_chain_equals_diffusers_ddim_scheduler():
    ours, _ = _linear_pair()
    ref = diffusers.DDIMScheduler(num_train_timesteps=T, beta_schedule="linear", beta_start=float(ours.betas[0]),
                                  beta_end=float(ours.betas[-1]), clip_sample=False, prediction_type="epsilon",
                                  set_alpha_to_one=True)
    ref.set_timesteps(20)
    assert ref.timesteps.tolist() == ddim_timesteps(T, 20)
    model = _model()
    mine = ddim_sample(model, ours, 50, 20, generator=torch.Generator().manual_seed(4))
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        for t in ref.timesteps:
            x = ref.step(model(x, int(t)), t, x, eta=0.0).prev_sample
    assert (mine - x).abs().max() < 1e-3


def test_q_sample_statistics_match_the_closed_form():
    s = NoiseSchedule.linear(T)
    x0 = torch.tensor([[2.0, -1.0, 0.0]], dtype=torch.float64).expand(100_000, 3)
    g = torch.Generator().manual_seed(0)
    for t in (0, 30, T - 1):
        xt = s.q_sample(x0, t, torch.randn(x0.shape, generator=g, dtype=torch.float64))
        assert torch.allclose(xt.mean(0), s.alpha_bars[t].sqrt() * x0[0], atol=0.01)
        assert torch.allclose(xt.var(0), (1 - s.alpha_bars[t]).expand(3), rtol=0.02)
    t = torch.tensor([0, T - 1])                               # one step per row
    out = s.q_sample(torch.ones(2, 1), t, torch.zeros(2, 1))
    assert torch.allclose(out[:, 0], s.alpha_bars[t].sqrt().float())


def test_many_single_steps_equal_one_closed_form_jump():
    s = NoiseSchedule.cosine(20)
    g = torch.Generator().manual_seed(1)
    x = torch.full((200_000, 1), 1.0, dtype=torch.float64)
    for t in range(12):
        x = s.alphas[t].sqrt() * x + s.betas[t].sqrt() * torch.randn(x.shape, generator=g, dtype=torch.float64)
    assert abs(x.mean() - s.alpha_bars[11].sqrt()) < 0.01 and abs(x.var() - (1 - s.alpha_bars[11])) < 0.01


@pytest.mark.parametrize("betas,match", [
    (torch.full((10,), 0.01), r"alpha_bar_T = 0\.904 is not close to 0"),
    (torch.tensor([0.1, 0.5, 1.2]), r"betas\[2\] = 1\.2"),
    (torch.tensor([0.0, 0.5, 0.9]), r"betas\[0\] = 0"),
    (torch.tensor([0.5, float("nan"), 0.9]), r"betas\[1\] = nan"),
    (torch.tensor([0.9, 0.5, 0.95]), r"non-decreasing; betas\[1\]"),
    (torch.ones(2, 3) * 0.5, r"1-D"),
])
def test_bad_schedules_are_named(betas, match):
    with pytest.raises(ValueError, match=match):
        NoiseSchedule(betas)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match=r"alpha_bar_T = 0\.36"):
        NoiseSchedule.linear(100, beta_start=1e-4, beta_end=0.02)     # Ho et al.'s ends on a chain 10× shorter
    with pytest.raises(ValueError, match="beta_start <= beta_end"):
        NoiseSchedule.linear(100, beta_start=0.1, beta_end=0.01)
    with pytest.raises(ValueError, match="T must be an int"):
        NoiseSchedule.cosine(1)
    assert NoiseSchedule.linear(1000, 1e-4, 0.02).alpha_bars[-1] < 1e-4


def test_config_validation():
    for bad, match in [({"data_dim": 0}, "data_dim"), ({"time_dim": 7}, "time_dim"), ({"n_classes": 1}, "n_classes"),
                       ({"depth": 0}, "depth")]:
        with pytest.raises(ValueError, match=match):
            DenoiserConfig(**bad)
    with pytest.raises(dataclasses.FrozenInstanceError):
        DenoiserConfig().hidden = 3                            # frozen


def test_shapes_parameters_and_input_errors():
    m = _model(n_classes=10)
    assert m(torch.zeros(5, 2), torch.arange(5), torch.arange(5)).shape == (5, 2)
    assert m(torch.zeros(5, 2), 3).shape == (5, 2)            # one t and no label: the null class
    d, h, c = 2, 32, 16
    assert num_params(m) == (2 * (c * c + c)) + 11 * c + (d + c + 1) * h + (h + 1) * h + (h + 1) * d
    with pytest.raises(ValueError, match=r"\(N, 2\), got \(5, 3\)"):
        m(torch.zeros(5, 3), 1)
    with pytest.raises(ValueError, match=r"labels y must lie in 0 … 9"):
        m(torch.zeros(2, 2), 1, torch.tensor([0, 11]))
    with pytest.raises(ValueError, match="unconditional"):
        _model()(torch.zeros(2, 2), 1, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"timesteps must lie in 0 … 99"):
        NoiseSchedule.linear(T).q_sample(torch.zeros(2, 2), torch.tensor([0, 100]), torch.zeros(2, 2))


def test_guidance_mixes_conditional_and_unconditional_predictions():
    m = _model(n_classes=3)
    x, y = torch.randn(4, 2), torch.tensor([0, 1, 2, 0])
    with torch.no_grad():
        cond, uncond = m(x, 7, y), m(x, 7)
        assert torch.allclose(guided_eps(m, x, 7, y, 1.0), cond)
        assert torch.allclose(guided_eps(m, x, 7, y, 0.0), uncond, atol=1e-6)
        assert torch.allclose(guided_eps(m, x, 7, y, 3.0), uncond + 3 * (cond - uncond), atol=1e-5)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="guidance must be a finite number"):
            ddpm_sample(m, NoiseSchedule.linear(T), 4, y=1, guidance=bad)
        with pytest.raises(ValueError, match="guidance must be a finite number"):
            ddim_sample(m, NoiseSchedule.linear(T), 4, 5, y=1, guidance=bad)


def test_loss_draw_order_and_label_dropout():
    s, m = NoiseSchedule.linear(T), _model(n_classes=4)
    x0, y = torch.randn(16, 2), torch.randint(0, 4, (16,))
    g = torch.Generator().manual_seed(5)
    t = torch.randint(0, T, (16,), generator=g)
    eps = torch.randn(x0.shape, generator=g)
    drop = torch.rand(16, generator=g) < 0.5
    y_used = torch.where(drop, torch.full_like(y, 4), y)
    want = ((m(s.q_sample(x0, t, eps), t, y_used) - eps) ** 2).mean()
    assert torch.equal(loss(m, s, x0, y, p_uncond=0.5, generator=torch.Generator().manual_seed(5)), want)
    with pytest.raises(ValueError, match="p_uncond"):
        loss(m, s, x0, y, p_uncond=1.5)
    with pytest.raises(ValueError, match="non-empty"):
        loss(m, s, torch.zeros(0, 2))


def test_sampling_is_deterministic_and_returns_the_trajectory():
    s, m = NoiseSchedule.cosine(20), _model()
    a = ddpm_sample(m, s, 7, generator=torch.Generator().manual_seed(1))
    b, path = ddpm_sample(m, s, 7, generator=torch.Generator().manual_seed(1), return_trajectory=True)
    assert torch.equal(a, b) and path.shape == (21, 7, 2) and torch.equal(path[-1], a)
    c, dpath = ddim_sample(m, s, 7, 5, generator=torch.Generator().manual_seed(1), return_trajectory=True)
    assert dpath.shape == (6, 7, 2) and torch.equal(dpath[0], path[0])     # both start from the same x_T
    assert ddim_sample(m, s, 7, 5, clip=1.0, generator=torch.Generator().manual_seed(1)).shape == (7, 2)
    assert m.training is False
    with pytest.raises(ValueError, match="steps must be an int in 1 … T=20"):
        ddim_sample(m, s, 3, 21)
    with pytest.raises(ValueError, match="n .* must be a positive int"):
        ddpm_sample(m, s, 0)
