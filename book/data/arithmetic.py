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


# ---- Column layout (p3-iv) ---------------------------------------------------
# Both operands zero-padded to a fixed width, so that column i of every operand
# sits at the same distance from column i of the answer, whatever the column: a
# model with relative positions can then do the same thing in every column,
# including columns that held only zeros in training. Written normally, the
# answer comes most significant digit first; reversed, every number is written
# least significant digit first, in the order column addition works.

def _check_width(a: int, b: int, width: int) -> None:
    if a < 0 or b < 0:
        raise ValueError(f"operands must be non-negative, got {a} and {b}")
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    if max(len(str(a)), len(str(b))) > width:
        raise ValueError(f"operands {a} and {b} do not fit in width={width} digits")


def _column(n: int, width: int, reverse: bool) -> str:
    digits = str(n).zfill(width)
    return digits[::-1] if reverse else digits


def column_problem(a: int, b: int, width: int, reverse: bool = False) -> str:
    """``a+b=`` with both operands ``width`` digits wide; ``reverse``: least significant digit first.

    >>> column_problem(123, 45, 5), column_problem(123, 45, 5, reverse=True)
    ('00123+00045=', '32100+54000=')
    """
    _check_width(a, b, width)
    return f"{_column(a, width, reverse)}+{_column(b, width, reverse)}="


def column_answer(a: int, b: int, width: int, reverse: bool = False) -> str:
    """The ``width + 1`` digits of ``a + b``, most significant first or, with ``reverse``, least significant first.

    Reversed, the answer is the smallest scratchpad: each digit needs only its
    own column and the carry out of the digit just written.

    >>> column_answer(123, 45, 5), column_answer(123, 45, 5, reverse=True)
    ('000168', '861000')
    """
    _check_width(a, b, width)
    return _column(a + b, width + 1, reverse)


def column_example(a: int, b: int, width: int, reverse: bool = False) -> str:
    """Problem and answer in the column layout, all written in the same digit order.

    >>> column_example(999, 1, 3), column_example(999, 1, 3, reverse=True)
    ('999+001=1000', '999+100=0001')
    """
    return column_problem(a, b, width, reverse) + column_answer(a, b, width, reverse)


def read_column_answer(completion: str, width: int, reverse: bool = False) -> int | None:
    """The number written after a column problem, or None if it is not ``width + 1`` digits.

    >>> read_column_answer('32100+54000=861000', 5, reverse=True)
    168
    """
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    answer = completion[2 * width + 2:]
    if len(answer) != width + 1 or not answer.isdigit():
        return None
    return int(answer[::-1] if reverse else answer)


def check_column_answer(completion: str, width: int, reverse: bool = False) -> bool:
    """True if ``completion`` is a column problem followed by its correct answer."""
    m = re.fullmatch(rf"(\d{{{width}}})\+(\d{{{width}}})=\d{{{width + 1}}}", completion)
    if not m:
        return False
    a, b = (int(g[::-1] if reverse else g) for g in m.groups())
    return read_column_answer(completion, width, reverse) == a + b


def carries(a: int, b: int) -> list[int]:
    """The carry out of every column of ``a + b``, least significant column first.

    >>> carries(199, 1)
    [1, 1, 0]
    """
    if a < 0 or b < 0:
        raise ValueError(f"operands must be non-negative, got {a} and {b}")
    da, db = _digits(a), _digits(b)
    out, carry = [], 0
    for i in range(max(len(da), len(db))):
        carry = ((da[i] if i < len(da) else 0) + (db[i] if i < len(db) else 0) + carry) // 10
        out.append(carry)
    return out


def longest_carry_chain(a: int, b: int) -> int:
    """The most consecutive columns of ``a + b`` that each pass a carry on (0: no carry at all).

    The carry into a column depends on every column of the chain below it, so a
    model that writes the answer most significant digit first must resolve the
    whole chain before it writes the digit.

    >>> longest_carry_chain(4999, 1), longest_carry_chain(123, 45), longest_carry_chain(55, 55)
    (3, 0, 2)
    """
    best = run = 0
    for c in carries(a, b):
        run = run + 1 if c else 0
        best = max(best, run)
    return best
