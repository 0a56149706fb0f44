"""The p3-iv exercise checkers accept correct answers and reject typical slips."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from scipy.stats import binom

from book.exercises.part3_efficiency import ch04_reasoning as ex


def test_majority_vote_reference_matches_scipy():
    for p in (0.0, 0.3, 0.5, 0.77, 1.0):
        for k in (1, 2, 5, 8, 15):
            want = binom.sf(k // 2, k, p) + (0.5 * binom.pmf(k // 2, k, p) if k % 2 == 0 else 0.0)
            assert math.isclose(ex.majority_vote_reference(p, k), want, rel_tol=1e-9, abs_tol=1e-12)
    with pytest.raises(ValueError, match="p must be"):
        ex.majority_vote_reference(1.5, 3)
    with pytest.raises(ValueError, match="k must be"):
        ex.majority_vote_reference(0.5, 0)


def test_majority_vote_checker_accepts_scipy_and_rejects_slips(capsys):
    def with_scipy(p, k):
        return binom.sf(k // 2, k, p) + (0.5 * binom.pmf(k // 2, k, p) if k % 2 == 0 else 0.0)

    ex.check_majority_vote_accuracy(with_scipy)
    assert "✓" in capsys.readouterr().out

    with pytest.raises(AssertionError, match="half"):          # ties counted as wins
        ex.check_majority_vote_accuracy(lambda p, k: binom.sf((k - 1) // 2, k, p))
    with pytest.raises(AssertionError, match="coin"):          # ties counted as losses
        ex.check_majority_vote_accuracy(lambda p, k: binom.sf(k // 2, k, p))
    with pytest.raises(AssertionError, match="one sample"):    # no vote at all
        ex.check_majority_vote_accuracy(lambda p, k: p)


def _chain(a, b):
    best = run = carry = 0
    while a or b:
        carry = (a % 10 + b % 10 + carry) // 10
        run = run + 1 if carry else 0
        best = max(best, run)
        a, b = a // 10, b // 10
    return best


def test_carry_chain_checker_accepts_a_loop_and_rejects_slips(capsys):
    ex.check_longest_carry_chain(_chain)
    assert "✓" in capsys.readouterr().out

    def total(a, b):
        n = carry = 0
        while a or b:
            carry = (a % 10 + b % 10 + carry) // 10
            n += carry
            a, b = a // 10, b // 10
        return n

    with pytest.raises(AssertionError, match="longest run"):
        ex.check_longest_carry_chain(total)

    def drops_the_top(a, b):                 # stops at the shorter operand's length
        best = run = carry = 0
        for i in range(min(len(str(a)), len(str(b)))):
            carry = ((a // 10 ** i) % 10 + (b // 10 ** i) % 10 + carry) // 10
            run = run + 1 if carry else 0
            best = max(best, run)
        return best

    with pytest.raises(AssertionError, match="longest_carry_chain"):
        ex.check_longest_carry_chain(drops_the_top)


def test_vote_checker_accepts_counter_and_rejects_slips(capsys):
    def vote(answers):
        c = Counter(a for a in answers if a is not None)
        return c.most_common(1)[0][0] if c else None

    ex.check_vote(vote)
    assert "✓" in capsys.readouterr().out

    with pytest.raises(AssertionError, match="not a vote"):    # None counted as an answer
        ex.check_vote(lambda answers: Counter(answers).most_common(1)[0][0] if answers else None)
    def ties_to_the_largest(answers):
        c = Counter(a for a in answers if a is not None)
        return max(c, key=lambda a: (c[a], a)) if c else None

    with pytest.raises(AssertionError, match="appears first"):
        ex.check_vote(ties_to_the_largest)
    with pytest.raises(AssertionError, match="nothing to vote"):
        ex.check_vote(lambda answers: vote(answers) if any(a is not None for a in answers) else -1)
