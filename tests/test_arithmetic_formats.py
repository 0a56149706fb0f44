"""The column layout of book.data.arithmetic (p3-iv): padding, digit order, parsing, carries."""

from __future__ import annotations

import random

import pytest

from book.data import arithmetic


def test_column_example_pads_and_orders_digits():
    assert arithmetic.column_example(123, 45, 5) == "00123+00045=000168"
    assert arithmetic.column_example(123, 45, 5, reverse=True) == "32100+54000=861000"
    assert arithmetic.column_example(0, 0, 1) == "0+0=00"
    assert arithmetic.column_example(9, 9, 1, reverse=True) == "9+9=81"
    # the reversed example is the plain one mirrored, operand by operand
    plain, rev = arithmetic.column_example(98765, 4321, 6), arithmetic.column_example(98765, 4321, 6, reverse=True)
    a, rest = plain.split("+")
    b, s = rest.split("=")
    assert rev == f"{a[::-1]}+{b[::-1]}={s[::-1]}"


@pytest.mark.parametrize("reverse", [False, True])
def test_read_and_check_round_trip_on_random_sums(reverse):
    rng = random.Random(3)
    for _ in range(300):
        width = rng.randint(1, 9)
        a, b = arithmetic.random_operands(rng.randint(1, width), rng)
        line = arithmetic.column_example(a, b, width, reverse)
        assert len(line) == 3 * width + 3
        assert arithmetic.read_column_answer(line, width, reverse) == a + b
        assert arithmetic.check_column_answer(line, width, reverse)
        wrong = line[:-1] + str((int(line[-1]) + 1) % 10)
        assert not arithmetic.check_column_answer(wrong, width, reverse)


def test_read_column_answer_rejects_malformed_completions():
    assert arithmetic.read_column_answer("32100+54000=86100", 5) is None          # one digit short
    assert arithmetic.read_column_answer("32100+54000=8610000", 5) is None        # one too many
    assert arithmetic.read_column_answer("32100+54000=86+000", 5) is None
    assert not arithmetic.check_column_answer("123+45=168", 3)
    assert not arithmetic.check_column_answer("", 2)
    # reading the reversed answer in the wrong order gives another number
    assert arithmetic.read_column_answer("32100+54000=861000", 5, reverse=False) == 861000


def test_column_layout_validates_its_arguments():
    with pytest.raises(ValueError, match="width=2"):
        arithmetic.column_problem(123, 4, 2)
    with pytest.raises(ValueError, match="non-negative"):
        arithmetic.column_answer(-1, 4, 3)
    with pytest.raises(ValueError, match="width must be"):
        arithmetic.column_example(1, 1, 0)
    with pytest.raises(ValueError, match="width must be"):
        arithmetic.read_column_answer("1+1=02", 0)
    with pytest.raises(ValueError, match="non-negative"):
        arithmetic.carries(3, -2)


def _brute_chain(a, b):
    # column by column with integer arithmetic on the numbers themselves
    best = run = 0
    i = 0
    while 10 ** i <= max(a, b, 1):
        low = 10 ** (i + 1)
        carry_out = (a % low + b % low) >= low
        run = run + 1 if carry_out else 0
        best = max(best, run)
        i += 1
    return best


def test_carries_and_longest_chain_match_brute_force():
    assert arithmetic.carries(199, 1) == [1, 1, 0]
    assert arithmetic.carries(0, 0) == [0]
    assert arithmetic.longest_carry_chain(9999, 1) == 4
    assert arithmetic.longest_carry_chain(5050, 5050) == 1
    rng = random.Random(7)
    for _ in range(2000):
        a, b = rng.randrange(10 ** rng.randint(1, 8)), rng.randrange(10 ** rng.randint(1, 8))
        carry_in = [0] + arithmetic.carries(a, b)[:-1]
        assert sum(((a // 10 ** i) % 10 + (b // 10 ** i) % 10 + c) % 10 * 10 ** i
                   for i, c in enumerate(carry_in)) + arithmetic.carries(a, b)[-1] * 10 ** len(carry_in) == a + b
        assert arithmetic.longest_carry_chain(a, b) == _brute_chain(a, b)
