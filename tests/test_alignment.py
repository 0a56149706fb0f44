"""Tests for book.alignment: the DPO and Bradley–Terry losses, sequence log-probabilities, REINFORCE + KL."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from book.alignment import RLConfig, bradley_terry_loss, dpo_loss, reinforce_step, sequence_logprob
from book.nn.gpt import GPT, GPTConfig


def tiny_gpt(seed=0, vocab=7):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab, block_size=12, n_layer=1, n_head=2, d_model=16)).eval()


def test_dpo_loss_matches_the_formula():
    g = torch.Generator().manual_seed(0)
    pc, pr, rc, rr = (-10 * torch.rand(6, generator=g, dtype=torch.float64) for _ in range(4))
    beta = 0.3
    loss, margin = dpo_loss(pc, pr, rc, rr, beta)
    want = [beta * ((pc[i] - rc[i]) - (pr[i] - rr[i])).item() for i in range(6)]
    assert margin.tolist() == pytest.approx(want, abs=1e-12)
    want_loss = np.mean([-math.log(1 / (1 + math.exp(-m))) for m in want])
    assert loss.item() == pytest.approx(want_loss, abs=1e-12)


def test_dpo_loss_is_finite_for_extreme_margins():
    loss, _ = dpo_loss(torch.tensor([-1000.0]), torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([0.0]), 1.0)
    assert loss.item() == pytest.approx(1000.0)


def test_dpo_gradient_raises_chosen_and_lowers_rejected():
    pc, pr = torch.tensor([-3.0], requires_grad=True), torch.tensor([-2.0], requires_grad=True)
    loss, _ = dpo_loss(pc, pr, torch.tensor([-2.5]), torch.tensor([-2.5]), beta=0.5)
    loss.backward()
    assert pc.grad.item() < 0 < pr.grad.item()       # descent raises log π(chosen), lowers log π(rejected)
    assert pc.grad.item() == pytest.approx(-pr.grad.item())


def test_bradley_terry_is_logistic_regression_on_differences():
    rng = np.random.default_rng(0)
    n, d = 400, 5
    w_true = rng.normal(size=d)
    fa, fb = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    x = fa - fb
    a_wins = rng.random(n) < 1 / (1 + np.exp(-x @ w_true))
    sk = LogisticRegression(C=1e6, fit_intercept=False, tol=1e-12, max_iter=10000).fit(x, a_wins)
    w = torch.zeros(d, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")
    xt, sign = torch.tensor(x), torch.tensor(np.where(a_wins, 1.0, -1.0))

    def closure():
        opt.zero_grad()
        r_a = sign * (xt @ w)                         # reward of the winner minus the loser's
        loss = bradley_terry_loss(r_a, torch.zeros_like(r_a))
        loss.backward()
        return loss
    opt.step(closure)
    assert np.abs(w.detach().numpy() - sk.coef_[0]).max() < 1e-3


def test_bradley_terry_values():
    assert bradley_terry_loss(torch.zeros(3), torch.zeros(3)).item() == pytest.approx(math.log(2))
    assert bradley_terry_loss(torch.tensor([1.0]), torch.tensor([0.0])).item() == pytest.approx(
        math.log(1 + math.exp(-1)))


def test_sequence_logprob_matches_a_manual_loop():
    model = tiny_gpt()
    ids = torch.tensor([[1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]])
    got = sequence_logprob(model, ids, prompt_len=2)
    with torch.no_grad():
        for b in range(2):
            total = 0.0
            for t in range(2, 6):
                logits, _ = model(ids[b:b + 1, :t])
                total += torch.log_softmax(logits[0, -1], -1)[ids[b, t]].item()
            assert got[b].item() == pytest.approx(total, abs=1e-5)


def test_sequence_logprob_mask_and_gradients():
    model = tiny_gpt()
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    full = sequence_logprob(model, ids, 1)
    first_two = sequence_logprob(model, ids, 1, mask=torch.tensor([[1, 1, 0, 0]]))
    assert first_two.item() == pytest.approx(sequence_logprob(model, ids[:, :3], 1).item(), abs=1e-5)
    assert first_two.item() > full.item()
    full.sum().backward()
    assert model.tok_emb.weight.grad is not None


@pytest.mark.parametrize("call, match", [
    (lambda: dpo_loss(torch.zeros(2), torch.zeros(3), torch.zeros(2), torch.zeros(2), 0.1), "shapes"),
    (lambda: dpo_loss(torch.zeros(2), torch.zeros(2), torch.zeros(2), torch.zeros(2), 0.0), "beta"),
    (lambda: bradley_terry_loss(torch.zeros(2, 1), torch.zeros(2, 1)), "1-D"),
    (lambda: sequence_logprob(tiny_gpt(), torch.tensor([1, 2, 3]), 1), "batch, time"),
    (lambda: sequence_logprob(tiny_gpt(), torch.tensor([[1, 2, 3]]), 3), "prompt_len"),
    (lambda: sequence_logprob(tiny_gpt(), torch.tensor([[1, 2, 3]]), 1, mask=torch.ones(1, 3)), "mask"),
    (lambda: RLConfig(new_tokens=0), "new_tokens"),
    (lambda: RLConfig(beta=-1.0), "beta"),
    (lambda: RLConfig(temperature=0.0), "temperature"),
])
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_reinforce_step_raises_a_reward_and_is_deterministic():
    def run():
        policy = tiny_gpt()
        ref = copy.deepcopy(policy).requires_grad_(False)
        opt = torch.optim.Adam(policy.parameters(), lr=3e-2)
        g = torch.Generator().manual_seed(0)
        reward = lambda ids: (ids[:, 2:] == 3).float().sum(1)      # noqa: E731  count of token 3
        log = [reinforce_step(policy, ref, opt, torch.ones(32, 2, dtype=torch.long), reward,
                              RLConfig(new_tokens=4, beta=0.0), g) for _ in range(25)]
        return log
    a, b = run(), run()
    assert a == b
    assert np.mean([s["reward"] for s in a[-5:]]) > np.mean([s["reward"] for s in a[:5]]) + 0.5
    assert a[0]["kl"] == pytest.approx(0.0, abs=1e-5) and a[-1]["kl"] > 0


def test_reinforce_step_rejects_a_bad_reward_shape():
    policy = tiny_gpt()
    opt = torch.optim.SGD(policy.parameters(), lr=0.0)
    with pytest.raises(ValueError, match="one reward per sequence"):
        reinforce_step(policy, policy, opt, torch.ones(4, 2, dtype=torch.long), lambda ids: torch.zeros(4, 1),
                       RLConfig(new_tokens=2))
