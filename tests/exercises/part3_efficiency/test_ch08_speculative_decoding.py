"""The p3-viii exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import pytest
import torch

from book.exercises.part3_efficiency import ch08_speculative_decoding as ex


def _speedup(alpha, gamma, c):
    tokens = gamma + 1 if alpha == 1 else (1 - alpha ** (gamma + 1)) / (1 - alpha)
    return tokens / (gamma * c + 1)


def test_best_gamma_accepts_a_search_and_rejects_slips(capsys):
    def search(alpha, c, max_gamma=16):
        return max(range(max_gamma + 1), key=lambda g: (_speedup(alpha, g, c), -g))

    ex.check_best_gamma(search)
    ex.check_best_gamma(ex.best_gamma_reference)
    assert "✓" in capsys.readouterr().out

    def never_zero(alpha, c, max_gamma=16):
        return max(range(1, max_gamma + 1), key=lambda g: (_speedup(alpha, g, c), -g))

    with pytest.raises(AssertionError, match="return 0"):
        ex.check_best_gamma(never_zero)

    def free_drafts(alpha, c, max_gamma=16):          # forgets the draft's cost
        return max(range(max_gamma + 1), key=lambda g: (_speedup(alpha, g, 0.0), -g))

    with pytest.raises(AssertionError, match="γc"):
        ex.check_best_gamma(free_drafts)

    def wrong_exponent(alpha, c, max_gamma=16):       # α^γ instead of α^(γ+1)
        f = lambda g: (1 - alpha ** g) / (1 - alpha) / (g * c + 1)
        return max(range(max_gamma + 1), key=lambda g: (f(g), -g))

    with pytest.raises(AssertionError, match="exponent|speed-up"):
        ex.check_best_gamma(wrong_exponent)


def test_refined_speedup_accepts_the_model_and_rejects_r_equal_one(capsys):
    def model(alpha, gamma, c, r):
        tokens = gamma + 1 if alpha == 1 else (1 - alpha ** (gamma + 1)) / (1 - alpha)
        return tokens / (gamma * c + r)

    ex.check_refined_speedup(model)
    assert "✓" in capsys.readouterr().out

    with pytest.raises(AssertionError, match="γc \\+ r"):
        ex.check_refined_speedup(lambda alpha, gamma, c, r: model(alpha, gamma, c, 1.0))

    def closed_form_only(alpha, gamma, c, r):
        return (1 - alpha ** (gamma + 1)) / (1 - alpha) / (gamma * c + r)

    with pytest.raises((AssertionError, ZeroDivisionError)):
        ex.check_refined_speedup(closed_form_only)


def _verify(p, q, drafts, u):
    """A vectorised model answer, written independently of the package."""
    gamma = drafts.shape[-1]
    pd = torch.gather(p[..., :gamma, :], -1, drafts[..., None]).squeeze(-1)
    qd = torch.gather(q, -1, drafts[..., None]).squeeze(-1)
    ok = (u * qd < pd).long()
    n = torch.cumprod(ok, -1).sum(-1)
    v = p.shape[-1]
    p_next = torch.gather(p, -2, n[..., None, None].expand(*n.shape, 1, v)).squeeze(-2)
    q_next = torch.gather(q, -2, n.clamp(max=gamma - 1)[..., None, None].expand(*n.shape, 1, v)).squeeze(-2)
    r = (p_next - q_next).clamp(min=0)
    r = r / r.sum(-1, keepdim=True).clamp(min=1e-300)
    return n, torch.where((n == gamma)[..., None], p_next, r)


def test_verify_accepts_a_vectorised_answer_and_rejects_common_bugs(capsys):
    ex.check_verify(_verify)
    assert "✓" in capsys.readouterr().out

    def accept_with_u_le(p, q, drafts, u):            # u ≤ p/q accepts p = 0 when u = 0
        gamma = drafts.shape[-1]
        pd = torch.gather(p[..., :gamma, :], -1, drafts[..., None]).squeeze(-1)
        qd = torch.gather(q, -1, drafts[..., None]).squeeze(-1)
        n = torch.cumprod((u * qd <= pd).long(), -1).sum(-1)
        return n, _verify(p, q, drafts, u)[1] if torch.equal(n, _verify(p, q, drafts, u)[0]) else p[..., 0, :]

    with pytest.raises(AssertionError, match="never accepted"):
        ex.check_verify(accept_with_u_le)

    def count_all_acceptances(p, q, drafts, u):       # forgets to stop at the first rejection
        gamma = drafts.shape[-1]
        pd = torch.gather(p[..., :gamma, :], -1, drafts[..., None]).squeeze(-1)
        qd = torch.gather(q, -1, drafts[..., None]).squeeze(-1)
        return (u * qd < pd).long().sum(-1), _verify(p, q, drafts, u)[1]

    with pytest.raises(AssertionError, match="first rejection"):
        ex.check_verify(count_all_acceptances)

    def resample_from_p(p, q, drafts, u):             # the tempting shortcut: on rejection draw from p
        n, _ = _verify(p, q, drafts, u)
        v = p.shape[-1]
        return n, torch.gather(p, -2, n[..., None, None].expand(*n.shape, 1, v)).squeeze(-2)

    with pytest.raises(AssertionError, match="max\\(0, p_i − q_i\\)"):
        ex.check_verify(resample_from_p)

    def bonus_from_residual(p, q, drafts, u):         # treats the bonus like a rejection at the last draft
        n, final = _verify(p, q, drafts, u)
        gamma, v = drafts.shape[-1], p.shape[-1]
        last = torch.gather(p, -2, torch.full((*n.shape, 1, v), gamma - 1)).squeeze(-2)
        return n, torch.where((n == gamma)[..., None], last, final)

    with pytest.raises(AssertionError, match="bonus"):
        ex.check_verify(bonus_from_residual)
