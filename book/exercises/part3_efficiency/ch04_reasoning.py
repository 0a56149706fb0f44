"""Exercise checkers for p3-iv (reasoning: scratchpads and self-consistency).

The references: the binomial tail for a majority vote over ``k`` samples (with
ties broken by a fair coin, so that even ``k`` has an answer), the plurality
vote over parsed answers, and :func:`book.data.arithmetic.longest_carry_chain`.
The cases are awkward on purpose: p = 0 and p = 1, k = 1 and even k, sums with
no carry, a carry out of the top column, votes with unparseable answers and ties.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence

from book.data import arithmetic
from book.exercises import passed


def majority_vote_reference(p: float, k: int) -> float:
    """P(the correct answer wins a vote of ``k`` independent samples, each right with probability ``p``).

    Wrong answers are assumed never to agree with one another, so the correct
    answer wins with more than k/2 votes and, for even k, wins half the ties at k/2.
    """
    if not 0 <= p <= 1:
        raise ValueError(f"p must be a probability in [0, 1], got {p}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    win = sum(math.comb(k, j) * p ** j * (1 - p) ** (k - j) for j in range(k // 2 + 1, k + 1))
    if k % 2 == 0:
        win += 0.5 * math.comb(k, k // 2) * (p * (1 - p)) ** (k // 2)
    return win


def check_majority_vote_accuracy(fn: Callable[[float, int], float]) -> None:
    """``fn(p, k)`` must be the probability that a majority of k samples is right, ties at k/2 counted half."""
    cases = [(0.7, 1), (0.7, 3), (0.7, 4), (0.55, 15), (0.4, 9), (0.5, 6), (0.0, 5), (1.0, 2), (0.9, 2), (0.3, 10)]
    for p, k in cases:
        want = majority_vote_reference(p, k)
        got = fn(p, k)
        if isinstance(got, (int, float)) and math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12):
            continue
        tie = math.comb(k, k // 2) * (p * (1 - p)) ** (k // 2) if k % 2 == 0 else 0.0
        if isinstance(got, (int, float)) and k % 2 == 0 and math.isclose(got, want + 0.5 * tie, rel_tol=1e-9):
            hint = "at a tie (k/2 right, k/2 wrong) the coin picks the right answer only half the time"
        elif isinstance(got, (int, float)) and k % 2 == 0 and math.isclose(got, want - 0.5 * tie, rel_tol=1e-9):
            hint = "a tie at k/2 is decided by a fair coin: add half of P(X = k/2)"
        elif isinstance(got, (int, float)) and math.isclose(got, p, rel_tol=1e-9):
            hint = "that is one sample's accuracy; sum the binomial probabilities P(X = j) for j > k/2"
        else:
            hint = "P(X > k/2) + ½·P(X = k/2) for X ~ Binomial(k, p): sum C(k, j) p^j (1 − p)^(k − j)"
        raise AssertionError(f"majority_vote_accuracy(p={p}, k={k}) = {got}, expected {want:.6g}: {hint}")
    passed(f"majority-vote accuracy correct on {len(cases)} cases, p = 0, p = 1 and even k included")


def check_longest_carry_chain(fn: Callable[[int, int], int]) -> None:
    """``fn(a, b)``: the most consecutive columns of a + b that each produce a carry."""
    cases = [(0, 0), (123, 45), (5, 5), (9999, 1), (4999, 1), (55, 55), (909, 191), (19, 81), (1, 99999),
             (98765, 43210), (500, 500), (5050, 5050), (90909, 10101)]
    for a, b in cases:
        want = arithmetic.longest_carry_chain(a, b)
        got = fn(a, b)
        if got == want:
            continue
        total = sum(arithmetic.carries(a, b))
        if got == total and total != want:
            hint = "count the longest run of consecutive carries, not all carries (a column without one ends a run)"
        elif got == want - 1:
            hint = "a column whose carry goes out of the top digit (9 + 1 = 10) still counts"
        elif got == want + 1:
            hint = "count columns that produce a carry, not the columns that receive one"
        else:
            hint = "carry_i = (a_i + b_i + carry_(i−1)) // 10, column by column from the right; track the longest run"
        raise AssertionError(f"longest_carry_chain({a}, {b}) = {got}, expected {want}: {hint}")
    passed(f"longest carry chain correct on {len(cases)} sums, no carry and a carry out of the top included")


def vote_reference(answers: Sequence[int | None]) -> int | None:
    """The most frequent answer that is not None; a tie goes to the answer that appears first."""
    counts = Counter(a for a in answers if a is not None)      # insertion order: first appearance
    return counts.most_common(1)[0][0] if counts else None


def check_vote(fn: Callable[[Sequence[int | None]], int | None]) -> None:
    """``fn(answers)``: the plurality answer, ignoring None (unparseable), a tie to the answer that appears first."""
    cases = [[7], [3, 3, 5], [5, 3, 3], [None, None, 4], [None, None], [], [1, 2, 2, 1], [2, 1, 1, 2],
             [None, 9, None, 8, 8, 9, 9], [0, None, 0, 1]]
    for answers in cases:
        want = vote_reference(answers)
        got = fn(list(answers))
        if got == want and (got is None) == (want is None):
            continue
        if want is not None and got is None and None in answers:
            hint = "None marks an answer that could not be read: it is not a vote, skip it"
        elif want is None:
            hint = "with no readable answer there is nothing to vote for: return None"
        elif got is not None and sum(a == got for a in answers) == sum(a == want for a in answers):
            hint = "a tie goes to the answer that appears first in the list"
        else:
            hint = "count each readable answer and return the most frequent one"
        raise AssertionError(f"vote({answers}) = {got}, expected {want}: {hint}")
    passed(f"plurality vote correct on {len(cases)} lists, empty lists, unreadable answers and ties included")
