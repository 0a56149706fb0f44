"""Learning from preferences: Bradley–Terry reward models, DPO and a KL-penalised policy gradient.

The pieces of the alignment recipes of p6-5, small enough to read in one
sitting and to run on the book's tiny GPT:

- :func:`bradley_terry_loss`, the negative log-likelihood of preference pairs
  under the Bradley–Terry model, which trains a reward model (p6-5.2);
- :func:`sequence_logprob`, the log-probability a language model gives a
  continuation, the quantity DPO and RLHF both move (p6-5.3);
- :func:`dpo_loss`, direct preference optimisation (Rafailov et al. 2023),
  returning the loss and the implicit-reward margin of each pair (p6-5.3);
- :class:`RLConfig` and :func:`reinforce_step`, one REINFORCE step that raises
  a reward while a KL penalty holds the policy near a frozen reference: the
  smallest RLHF loop (p6-5.4), and the one that hacks a flawed reward (p6-5.5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def _pair(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str]) -> None:
    if a.shape != b.shape or a.dim() != 1:
        raise ValueError(f"{names[0]} and {names[1]} must be 1-D tensors of the same length, got shapes "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")


def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of the pairs under Bradley–Terry: ``-log σ(r_chosen - r_rejected)``.

    ``r_chosen[i]`` and ``r_rejected[i]`` are the rewards of the preferred and
    the other answer of pair i, shapes (n,). Taught in p6-5.2.

    >>> round(bradley_terry_loss(torch.tensor([0.0]), torch.tensor([0.0])).item(), 4)   # log 2: a coin flip
    0.6931
    >>> bradley_terry_loss(torch.tensor([3.0]), torch.tensor([-3.0])).item() < 0.01
    True
    """
    _pair(r_chosen, r_rejected, ("r_chosen", "r_rejected"))
    return -F.logsigmoid(r_chosen - r_rejected).mean()


def dpo_loss(policy_logp_chosen: torch.Tensor, policy_logp_rejected: torch.Tensor,
             ref_logp_chosen: torch.Tensor, ref_logp_rejected: torch.Tensor,
             beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The DPO loss and the implicit-reward margin of each pair (Rafailov et al. 2023).

    Each argument is (n,): the summed log-probability of the chosen or the
    rejected continuation under the policy being trained or under the frozen
    reference. The implicit reward of a continuation is
    ``beta * (policy_logp - ref_logp)``; the margin is the chosen one minus the
    rejected one, and the loss is the Bradley–Terry loss of those rewards,
    ``mean(-log σ(margin))``. Returns ``(loss, margin)`` with ``margin`` (n,).
    Taught in p6-5.3.

    >>> z = torch.zeros(2)
    >>> loss, margin = dpo_loss(z, z, z, z, beta=0.1)     # the policy is the reference: margin 0, loss log 2
    >>> round(loss.item(), 4), margin.tolist()
    (0.6931, [0.0, 0.0])
    """
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    _pair(policy_logp_chosen, policy_logp_rejected, ("policy_logp_chosen", "policy_logp_rejected"))
    _pair(ref_logp_chosen, ref_logp_rejected, ("ref_logp_chosen", "ref_logp_rejected"))
    _pair(policy_logp_chosen, ref_logp_chosen, ("policy_logp_chosen", "ref_logp_chosen"))
    margin = beta * ((policy_logp_chosen - ref_logp_chosen) - (policy_logp_rejected - ref_logp_rejected))
    return -F.logsigmoid(margin).mean(), margin


def sequence_logprob(model: nn.Module, ids: torch.Tensor, prompt_len: int,
                     mask: torch.Tensor | None = None) -> torch.Tensor:
    """Sum of ``log p(ids[b, t] | ids[b, :t])`` over the continuation ``t >= prompt_len``, shape (B,).

    ``ids`` is (B, T) with a prompt of ``prompt_len`` tokens in every row;
    ``model(ids)`` must return ``(logits, _)`` like :class:`book.nn.gpt.GPT`.
    An optional ``mask`` (B, T - prompt_len) of 0/1 keeps only some continuation
    tokens (for example those before an end-of-story token). Gradients flow, so
    the result can be trained. Taught in p6-5.3.

    >>> from book.nn.gpt import GPT, GPTConfig
    >>> m = GPT(GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=1, d_model=8))
    >>> sequence_logprob(m, torch.tensor([[1, 2, 3, 4]]), prompt_len=2).shape
    torch.Size([1])
    """
    if ids.dim() != 2:
        raise ValueError(f"ids must be (batch, time) token ids, got shape {tuple(ids.shape)}")
    if not 1 <= prompt_len < ids.shape[1]:
        raise ValueError(f"prompt_len must be in [1, {ids.shape[1] - 1}] for ids of shape {tuple(ids.shape)}, "
                         f"got {prompt_len}")
    n_new = ids.shape[1] - prompt_len
    if mask is not None and mask.shape != (ids.shape[0], n_new):
        raise ValueError(f"mask must be (batch, continuation) = {(ids.shape[0], n_new)}, got {tuple(mask.shape)}")
    logits, _ = model(ids[:, :-1])
    logp = torch.log_softmax(logits[:, prompt_len - 1:].float(), dim=-1)            # predicts ids[:, prompt_len:]
    token_logp = logp.gather(-1, ids[:, prompt_len:, None]).squeeze(-1)              # (B, n_new)
    if mask is not None:
        token_logp = token_logp * mask.to(token_logp.dtype)
    return token_logp.sum(-1)


@dataclass(frozen=True)
class RLConfig:
    """Settings of :func:`reinforce_step`. Taught in p6-5.4.

    ``new_tokens``: tokens sampled per continuation; ``beta``: strength of the
    KL penalty to the reference (0 turns it off, as in the reward hacking of
    p6-5.5); ``temperature``: sampling temperature of the policy.

    >>> RLConfig(new_tokens=8, beta=0.1).beta
    0.1
    """

    new_tokens: int = 16
    beta: float = 0.1
    temperature: float = 1.0

    def __post_init__(self):
        if self.new_tokens < 1:
            raise ValueError(f"new_tokens must be >= 1, got {self.new_tokens}")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0 (0 switches the KL penalty off), got {self.beta}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")


def reinforce_step(policy: nn.Module, reference: nn.Module, optimizer: torch.optim.Optimizer,
                   prompts: torch.Tensor, reward_fn: Callable[[torch.Tensor], torch.Tensor], cfg: RLConfig,
                   generator: torch.Generator | None = None) -> dict[str, float]:
    """One KL-penalised REINFORCE step on a batch of prompts (B, P); returns the batch statistics.

    Samples a continuation y of ``cfg.new_tokens`` tokens per prompt from the
    policy, scores it with ``reward_fn(ids)`` (ids (B, P + new_tokens) -> (B,)),
    subtracts the penalty ``beta * (log π(y) - log π_ref(y))`` (a one-sample
    estimate of the KL divergence to the reference), and ascends
    ``(R - mean R) * log π(y)``: the policy gradient with the batch mean as a
    baseline. Returns the mean reward, the mean KL estimate and the mean
    penalised reward of the batch. Taught in p6-5.4.
    """
    if prompts.dim() != 2:
        raise ValueError(f"prompts must be (batch, prompt_len) token ids, got shape {tuple(prompts.shape)}")
    p = prompts.shape[1]
    policy.eval()
    with torch.no_grad():
        fits = p + cfg.new_tokens <= policy.cfg.block_size                      # then the KV cache can be used
        ids = policy.generate(prompts, cfg.new_tokens, temperature=cfg.temperature, generator=generator,
                              use_cache=fits)
        reward = reward_fn(ids).float()
        ref_logp = sequence_logprob(reference, ids, p)
    if reward.shape != (len(ids),):
        raise ValueError(f"reward_fn must return one reward per sequence, shape ({len(ids)},), "
                         f"got {tuple(reward.shape)}")
    policy.train()
    logp = sequence_logprob(policy, ids, p)
    kl = (logp - ref_logp).detach()
    total = reward - cfg.beta * kl
    advantage = total - total.mean()
    loss = -(advantage * logp).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    policy.eval()
    return {"reward": reward.mean().item(), "kl": kl.mean().item(), "objective": total.mean().item()}
