"""Arithmetic tasks as text, with and without a scratchpad.

A problem is ``"123+45="`` and its answer ``"168"``. With a scratchpad the
answer is preceded by the digit-by-digit working, least significant digit
first, the way column addition is done by hand::

    >>> addition_example(123, 45, scratchpad=True)
    '123+45=[3+5+0=8,2+4+0=6,1+0+0=1]168'
    >>> addition_example(123, 45)
    '123+45=168'

For the reasoning chapter of Part III: a tiny model trained with the
scratchpad generalises to longer numbers than one trained without it.
"""

from __future__ import annotations

import random
import re


def _digits(n: int) -> list[int]:
    return [int(c) for c in reversed(str(n))]


def addition_scratchpad(a: int, b: int) -> str:
    """The column-addition working for ``a + b``: ``[d_a+d_b+carry=digit,...]``."""
    if a < 0 or b < 0:
        raise ValueError(f"operands must be non-negative, got {a} and {b}")
    da, db = _digits(a), _digits(b)
    steps, carry = [], 0
    for i in range(max(len(da), len(db))):
        x = da[i] if i < len(da) else 0
        y = db[i] if i < len(db) else 0
        s = x + y + carry
        steps.append(f"{x}+{y}+{carry}={s % 10}")
        carry = s // 10
    if carry:
        steps.append(f"0+0+{carry}={carry}")
    return "[" + ",".join(steps) + "]"


def addition_example(a: int, b: int, scratchpad: bool = False) -> str:
    """``"a+b="`` followed by the (optional) scratchpad and the answer."""
    pad = addition_scratchpad(a, b) if scratchpad else ""
    return f"{a}+{b}={pad}{a + b}"


def multiplication_example(a: int, b: int, scratchpad: bool = False) -> str:
    """``"a*b="`` then, with a scratchpad, the partial products of ``a`` by each digit of ``b``."""
    if a < 0 or b < 0:
        raise ValueError(f"operands must be non-negative, got {a} and {b}")
    pad = ""
    if scratchpad:
        parts = [f"{a}*{d}{'0' * i}={a * d * 10 ** i}" for i, d in enumerate(_digits(b))]
        pad = "[" + ",".join(parts) + "]"
    return f"{a}*{b}={pad}{a * b}"


def random_operands(n_digits: int, rng: random.Random) -> tuple[int, int]:
    """Two integers with exactly ``n_digits`` digits each (1 digit: 0..9)."""
    if n_digits < 1:
        raise ValueError(f"n_digits must be >= 1, got {n_digits}")
    lo = 0 if n_digits == 1 else 10 ** (n_digits - 1)
    hi = 10 ** n_digits - 1
    return rng.randint(lo, hi), rng.randint(lo, hi)


def dataset(n: int, n_digits: int | tuple[int, int], op: str = "+", scratchpad: bool = False,
            seed: int = 0) -> list[str]:
    """``n`` worked examples; ``n_digits`` is a count or an inclusive (low, high) range."""
    if op not in "+*" or len(op) != 1:
        raise ValueError(f"op must be '+' or '*', got {op!r}")
    lo, hi = (n_digits, n_digits) if isinstance(n_digits, int) else n_digits
    rng = random.Random(seed)
    make = addition_example if op == "+" else multiplication_example
    return [make(*random_operands(rng.randint(lo, hi), rng), scratchpad=scratchpad) for _ in range(n)]


_PROBLEM = re.compile(r"^(\d+)([+*])(\d+)=")


def check_answer(completion: str) -> bool:
    """True if a full line ``"a+b=...answer"`` ends in the correct answer.

    The scratchpad, if any, is not graded: only the final number after it.
    """
    m = _PROBLEM.match(completion)
    if not m:
        return False
    a, op, b = int(m.group(1)), m.group(2), int(m.group(3))
    rest = completion[m.end():]
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            return False
        rest = rest[close + 1:]
    return rest.isdigit() and int(rest) == (a + b if op == "+" else a * b)


#: Characters that appear in any example: digits, operators, '=', scratchpad punctuation.
ALPHABET = "0123456789+*=[],"
