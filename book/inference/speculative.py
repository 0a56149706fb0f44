"""Speculative decoding: a small draft model proposes tokens, the target checks them, and the output is the target's.

Speculative sampling (Leviathan et al. 2023; Chen et al. 2023). Each step:

1. the draft proposes γ tokens one at a time, x̃_i ~ q_i = q(· | x, x̃_<i);
2. the target scores all γ + 1 positions in *one* cached forward pass, giving
   p_1 … p_{γ+1};
3. draft token i is accepted with probability min(1, p_i(x̃_i) / q_i(x̃_i)),
   in order, until the first rejection;
4. at the first rejection (position i) one token is drawn from the residual
   norm(max(0, p_i − q_i)); when all γ are accepted a *bonus* token is drawn
   from p_{γ+1} (the residual with q_{γ+1} = 0).

Every emitted token is distributed exactly as if it had been sampled from the
target alone, whatever the draft; with temperature 0 (one-hot distributions)
the output equals the target's greedy decoding token for token. Taught in
p3-viii; Part VI's serving engine reuses it.

Random numbers are drawn in one fixed order, so a run is reproducible from its
generator: γ draft draws (``torch.multinomial``, one per proposal), then γ
uniforms (one ``torch.rand``), then one draw of the final token.

>>> p = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])   # target: p_1, p_2 (γ = 1)
>>> q = torch.tensor([[0.1, 0.9, 0.0]])                    # draft: q_1
>>> residual(p[0], q[0]).tolist()                           # where p exceeds q, renormalised
[1.0, 0.0, 0.0]
>>> accept_count(p, q, torch.tensor([1]), torch.tensor([0.5])).item()   # 0.5 · 0.9 < 0.5: accepted
1
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from book.inference.sampling import probabilities  # the one sampling rule, shared with sample()


def acceptance_probability(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """β = Σ_x min(p(x), q(x)): the chance that a draft token x ~ q is accepted, (…, V) → (…,)."""
    return torch.minimum(p, q).sum(-1)


def residual(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """norm(max(0, p − q)), the distribution a rejected draft token is replaced from: (…, V) → (…, V).

    Where p ≤ q everywhere (p = q) no draft token can be rejected; those rows
    return p, so the result is always a distribution.
    """
    r = (p - q).clamp_min(0)
    total = r.sum(-1, keepdim=True)
    return torch.where(total > 0, r / total.clamp_min(torch.finfo(r.dtype).tiny), p)


def accept_count(p: torch.Tensor, q: torch.Tensor, drafts: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """How many draft tokens are accepted before the first rejection: (…,) integers in 0…γ.

    p: (…, γ+1, V) target distributions; q: (…, γ, V) draft distributions;
    drafts: (…, γ) the proposed ids; u: (…, γ) uniforms in [0, 1). Token i is
    accepted when u_i < p_i(x̃_i) / q_i(x̃_i), written u_i · q_i(x̃_i) < p_i(x̃_i)
    so that no division is needed (x̃_i was drawn from q_i, so q_i(x̃_i) > 0).
    """
    gamma = drafts.shape[-1]
    if q.shape[-2] != gamma or p.shape[-2] != gamma + 1 or u.shape != drafts.shape:
        raise ValueError(f"need p (…, γ+1, V), q (…, γ, V), drafts and u (…, γ); got p {tuple(p.shape)}, "
                         f"q {tuple(q.shape)}, drafts {tuple(drafts.shape)}, u {tuple(u.shape)}")
    index = drafts[..., None]
    p_draft = p[..., :gamma, :].gather(-1, index)[..., 0]                      # p_i(x̃_i)  (…, γ)
    q_draft = q.gather(-1, index)[..., 0]                                      # q_i(x̃_i)  (…, γ)
    accepted = u * q_draft < p_draft
    return accepted.long().cumprod(-1).sum(-1)                                 # ones before the first zero


def final_distribution(p: torch.Tensor, q: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """The distribution of the token emitted after ``n`` accepted drafts: (…, V).

    The residual norm(max(0, p_{n+1} − q_{n+1})) at the first rejected
    position (n < γ); the target's own p_{γ+1}, the bonus, when all γ drafts
    were accepted (the residual with q_{γ+1} = 0).
    """
    gamma, v = q.shape[-2], p.shape[-1]
    p_next = p.gather(-2, n[..., None, None].expand(*n.shape, 1, v))[..., 0, :]             # p_{n+1}
    if gamma == 0:
        return p_next
    q_next = q.gather(-2, n.clamp_max(gamma - 1)[..., None, None].expand(*n.shape, 1, v))[..., 0, :]
    return torch.where((n < gamma)[..., None], residual(p_next, q_next), p_next)


def speculative_step(p: torch.Tensor, q: torch.Tensor, drafts: torch.Tensor,
                     generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Verify γ draft tokens: returns (accepted count (…,), next token (…,)), for any leading batch shape.

    Draws γ uniforms (one ``torch.rand``), counts the accepted drafts with
    :func:`accept_count`, then draws the next token from
    :func:`final_distribution` (one ``torch.multinomial`` over the rows).
    """
    u = torch.rand(drafts.shape, generator=generator, dtype=p.dtype, device=p.device)
    n = accept_count(p, q, drafts, u)
    final = final_distribution(p, q, n)
    nxt = torch.multinomial(final.reshape(-1, final.shape[-1]), 1, generator=generator).reshape(n.shape)
    return n, nxt


def expected_tokens_per_step(alpha: float, gamma: int) -> float:
    """(1 − α^(γ+1)) / (1 − α): tokens one step emits when each draft is accepted independently with probability α."""
    if not 0 <= alpha <= 1 or gamma < 0:
        raise ValueError(f"need 0 <= alpha <= 1 and gamma >= 0, got alpha={alpha}, gamma={gamma}")
    return float(gamma + 1) if alpha == 1 else (1 - alpha ** (gamma + 1)) / (1 - alpha)


def expected_speedup(alpha: float, gamma: int, c: float) -> float:
    """(1 − α^(γ+1)) / ((1 − α)(γc + 1)): tokens per step over a step's cost in target steps.

    ``c`` is the cost of one draft step over one target step; the target's
    verification pass over γ + 1 positions is counted as one target step.
    """
    if c < 0:
        raise ValueError(f"the cost ratio c must be >= 0, got {c}")
    return expected_tokens_per_step(alpha, gamma) / (gamma * c + 1)


@dataclass
class SpeculativeStats:
    """What one speculative generation did, step by step: drafts proposed and drafts accepted."""

    gamma: int
    proposed: list[int] = field(default_factory=list)   # γ of each step (fewer near the end)
    accepted: list[int] = field(default_factory=list)   # accepted drafts of each step

    @property
    def steps(self) -> int:
        """Target forward passes."""
        return len(self.accepted)

    @property
    def tokens(self) -> int:
        """Tokens emitted: the accepted drafts plus one per step (the residual or bonus token)."""
        return sum(self.accepted) + len(self.accepted)

    @property
    def acceptance_rate(self) -> float:
        """Accepted / judged drafts (a draft after the first rejection of a step is never judged)."""
        judged = sum(n + (n < g) for g, n in zip(self.proposed, self.accepted))
        return sum(self.accepted) / judged if judged else float("nan")


def _check_models(target, draft, prompt: torch.Tensor, max_new_tokens: int, gamma: int) -> None:
    vt, vd = target.cfg.vocab_size, draft.cfg.vocab_size
    if vt != vd:
        raise ValueError(f"draft and target must share a vocabulary: the target has vocab_size={vt}, "
                         f"the draft vocab_size={vd}")
    if gamma < 1:
        raise ValueError(f"gamma (draft tokens per step) must be >= 1, got {gamma}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    if prompt.dim() != 2 or prompt.shape[0] != 1 or prompt.shape[1] == 0:
        raise ValueError(f"prompt must be one non-empty sequence of shape (1, T), got {tuple(prompt.shape)}")
    room = min(target.cfg.block_size, draft.cfg.block_size)
    if prompt.shape[1] + max_new_tokens > room:
        raise ValueError(f"prompt ({prompt.shape[1]}) + max_new_tokens ({max_new_tokens}) exceed the smaller "
                         f"block_size ({room}) of target and draft")


@torch.no_grad()
def speculative_generate(target, draft, prompt: torch.Tensor, max_new_tokens: int, gamma: int = 4,
                         temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                         generator: torch.Generator | None = None) -> tuple[torch.Tensor, SpeculativeStats]:
    """Append ``max_new_tokens`` tokens to ``prompt`` (1, T) by speculative sampling; returns (tokens, stats).

    ``target`` and ``draft`` are :class:`book.nn.gpt.GPT`-like models (``cfg``,
    ``new_cache``, ``model(idx, cache=...)``) with the same vocabulary; both
    decode with their KV caches, which are cut back after every step to the
    accepted tokens. ``temperature``, ``top_k`` and ``top_p`` shape *both*
    distributions as in :func:`book.inference.sampling.sample`, and the output
    follows the target's shaped distribution exactly (temperature 0: the
    target's greedy output). Steps near the end propose fewer drafts so that
    exactly ``max_new_tokens`` tokens are emitted. On a GPU, pass a
    ``generator`` on the models' device.
    """
    _check_models(target, draft, prompt, max_new_tokens, gamma)
    t_cache, d_cache = target.new_cache(), draft.new_cache()
    seq = prompt[0].tolist()
    end = len(seq) + max_new_tokens
    stats = SpeculativeStats(gamma)
    v, device = target.cfg.vocab_size, prompt.device

    def dist(logits):
        return probabilities(logits, temperature, top_k, top_p)

    while len(seq) < end:
        g = min(gamma, end - len(seq) - 1)           # a step emits at most g + 1 tokens
        # 1. draft: feed what its cache has not seen (one token, two after a full acceptance), then each proposal
        feed, drafts, qs = seq[d_cache.length:], [], []
        for _ in range(g):
            q_i = dist(draft(torch.tensor([feed], device=device), cache=d_cache)[0][0, -1])           # (V,)
            x = int(torch.multinomial(q_i, 1, generator=generator))
            drafts.append(x)
            qs.append(q_i)
            feed = [x]
        # 2. target: the unseen tokens and all g drafts in one pass; keep the last g + 1 positions
        unseen = torch.tensor([seq[t_cache.length:] + drafts], device=device)
        logits = target(unseen, cache=t_cache)[0][0, -(g + 1):]
        p = dist(logits)                                                                # (g+1, V)
        q = torch.stack(qs) if g else p.new_zeros(0, v)                                 # (g, V)
        # 3–4. accept or reject, then the residual or bonus token
        n, nxt = speculative_step(p, q, torch.tensor(drafts, dtype=torch.long, device=device), generator)
        n = int(n)
        seq += drafts[:n] + [int(nxt)]
        stats.proposed.append(g)
        stats.accepted.append(n)
        # the caches may hold every token but the newest, and none of the rejected drafts
        t_cache.truncate(len(seq) - 1)
        d_cache.truncate(len(seq) - 1)
    return torch.tensor([seq], dtype=prompt.dtype, device=device), stats
