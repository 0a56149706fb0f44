"""Exercise checkers for p3-viii (speculative decoding).

The references are :mod:`book.inference.speculative`: the expected tokens per
step, the speed-up model and the verification rule (accept count and the
distribution of the token that ends a step). Inputs are awkward on purpose:
γ = 1, a draft token the target gives probability zero, a draft equal to the
target, a batch with two leading dimensions.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from book.checks import assert_close
from book.exercises import passed, with_hint
from book.inference import speculative as spec


def best_gamma_reference(alpha: float, c: float, max_gamma: int = 16) -> int:
    """The draft length γ in 0…max_gamma with the largest modelled speed-up (0: do not speculate; ties: smaller γ)."""
    speedups = [spec.expected_speedup(alpha, g, c) for g in range(max_gamma + 1)]
    return max(range(max_gamma + 1), key=lambda g: (speedups[g], -g))


def check_best_gamma(fn: Callable[..., int]) -> None:
    """``fn(alpha, c, max_gamma=16)`` must return the γ that maximises Eq. (p3-viii-speedup), 0 if none beats 1."""
    cases = [(0.8, 0.05, 16), (0.9, 0.2, 16), (0.6, 0.3, 16), (0.95, 0.01, 16), (0.99, 0.001, 10),
             (0.3, 0.5, 16), (0.5, 0.0, 5)]
    for alpha, c, max_gamma in cases:
        want = best_gamma_reference(alpha, c, max_gamma)
        got = fn(alpha, c, max_gamma)
        if got == want:
            continue
        if want == 0:
            hint = (f"no draft length pays here (the best speed-up is {spec.expected_speedup(alpha, 1, c):.2f} at "
                    "γ = 1): return 0, plain decoding, whose speed-up is 1")
        elif got == max_gamma and c > 0:
            hint = "every draft step costs c target steps: divide by (γc + 1)"
        elif got == best_gamma_reference(alpha, c, max_gamma + 1) or got == want + 1 or got == want - 1:
            hint = "tokens per step are 1 + α + … + α^γ = (1 − α^(γ+1)) / (1 − α): check the exponent"
        else:
            hint = "speed-up(γ) = (1 − α^(γ+1)) / ((1 − α)(γc + 1)); take the γ in 0…max_gamma where it is largest"
        raise AssertionError(f"best_gamma(alpha={alpha}, c={c}, max_gamma={max_gamma}) returned {got}, "
                             f"expected {want}: {hint}")
    passed(f"best_gamma correct on {len(cases)} cases, c = 0 and a draft too poor to use included")


def refined_speedup_reference(alpha: float, gamma: int, c: float, r: float) -> float:
    """Tokens per step over a step's cost when the verification pass costs ``r`` target steps.

    With r = 1 it is Eq. (p3-viii-speedup), :func:`book.inference.speculative.expected_speedup`.
    """
    return spec.expected_tokens_per_step(alpha, gamma) / (gamma * c + r)


def check_refined_speedup(fn: Callable[[float, int, float, float], float]) -> None:
    """``fn(alpha, gamma, c, r)``: the speed-up when the target's pass over γ + 1 positions costs r single steps."""
    cases = [(0.8, 4, 0.1, 1.0), (0.89, 6, 0.2, 1.3), (0.5, 1, 0.05, 1.1), (1.0, 3, 0.25, 1.0), (0.0, 5, 0.1, 2.0)]
    for alpha, gamma, c, r in cases:
        want = refined_speedup_reference(alpha, gamma, c, r)
        got = fn(alpha, gamma, c, r)
        if isinstance(got, (int, float)) and math.isclose(got, want, rel_tol=1e-9):
            continue
        if alpha == 1.0 and not (isinstance(got, float) and math.isfinite(got)):
            hint = "α = 1 divides 0 by 0 in the closed form: then every draft is accepted, γ + 1 tokens per step"
        elif isinstance(got, (int, float)) and math.isclose(got, spec.expected_speedup(alpha, gamma, c), rel_tol=1e-9):
            hint = "the verification pass costs r target steps, not 1: the denominator is γc + r"
        else:
            hint = "tokens per step (1 − α^(γ+1)) / (1 − α), over the step's cost γc + r"
        raise AssertionError(f"refined_speedup(alpha={alpha}, gamma={gamma}, c={c}, r={r}) = {got}, expected "
                             f"{want:.6g}: {hint}")
    passed(f"refined speed-up model correct on {len(cases)} cases, α = 0 and α = 1 included")


def _verify_cases():
    g = torch.Generator().manual_seed(8)
    cases = []
    for lead, gamma, v in [((), 1, 5), ((7,), 4, 9), ((2, 3), 7, 6), ((5,), 2, 3)]:
        p = torch.softmax(torch.randn(*lead, gamma + 1, v, generator=g, dtype=torch.float64) * 2, -1)
        q = torch.softmax(torch.randn(*lead, gamma, v, generator=g, dtype=torch.float64) * 2, -1)
        drafts = torch.multinomial(q.reshape(-1, v), 1, generator=g).reshape(*lead, gamma)
        u = torch.rand(*lead, gamma, generator=g, dtype=torch.float64)
        cases.append((p, q, drafts, u))
    p, q, drafts, u = (t.clone() for t in cases[1])
    p[0, 0] = 0.0                        # the target gives the first draft token probability zero
    p[0, 0, (drafts[0, 0] + 1) % 9] = 1.0
    u[0, 0] = 0.0                        # … even with u = 0 it must be rejected
    q[1] = p[1, :4]                      # a row whose draft equals the target: every draft is accepted
    u[2] = 0.0                           # u = 0 accepts any token with p > 0
    cases.append((p, q, drafts, u))
    return cases


def check_verify(fn: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> None:
    """``fn(p, q, drafts, u)`` -> ``(n, final)``: accepted drafts (…,) and the next token's distribution (…, V).

    p (…, γ+1, V) target and q (…, γ, V) draft distributions, drafts (…, γ)
    proposed ids, u (…, γ) uniforms. Compared with
    :func:`book.inference.speculative.accept_count` and
    :func:`~book.inference.speculative.final_distribution` for any leading shape.
    """
    cases = _verify_cases()
    for p, q, drafts, u in cases:
        lead, gamma = drafts.shape[:-1], drafts.shape[-1]
        want_n = spec.accept_count(p, q, drafts, u)
        want_final = spec.final_distribution(p, q, want_n)
        out = fn(p.clone(), q.clone(), drafts.clone(), u.clone())
        assert isinstance(out, tuple) and len(out) == 2, "return a pair (n, final)"
        n, final = out
        shape = f"leading shape {tuple(lead)}, γ = {gamma}"
        assert isinstance(n, torch.Tensor) and n.shape == want_n.shape, (
            f"n must have the leading shape {tuple(want_n.shape)} ({shape}), got {getattr(n, 'shape', type(n))}")
        if not torch.equal(n.long(), want_n):
            bad = (n.long() != want_n).nonzero()[0].tolist()
            raise AssertionError(f"accepted count at row {bad} is {int(n[tuple(bad)])}, expected "
                                 f"{int(want_n[tuple(bad)])} ({shape}): accept draft i when u_i · q_i(x̃_i) < "
                                 "p_i(x̃_i) (a token with p = 0 is never accepted, even with u = 0), and count only "
                                 "the acceptances before the first rejection (cumprod of the accept mask)")
        assert isinstance(final, torch.Tensor) and final.shape == want_final.shape, (
            f"final must be (…, V) = {tuple(want_final.shape)} ({shape}), got {getattr(final, 'shape', type(final))}")
        accepted_all = want_n == gamma
        hint = ("after all γ drafts are accepted the next token is the bonus, drawn from p_{γ+1} itself"
                if not torch.allclose(final[accepted_all], want_final[accepted_all], rtol=0, atol=1e-12) else
                "after a rejection at position i, draw from max(0, p_i − q_i) normalised to sum to 1")
        with_hint(lambda: assert_close(final, want_final, rtol=0, atol=1e-12,
                                       name=f"next-token distribution ({shape})"), hint)
    passed(f"verify = the package's accept count and next-token distribution on {len(cases)} batches "
           "(γ from 1 to 7, a draft the target rules out, a perfect draft, u = 0)")
