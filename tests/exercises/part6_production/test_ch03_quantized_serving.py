"""The p6-3 exercise checkers accept correct answers and reject typical mistakes."""

from __future__ import annotations

import json

import pytest

from book.exercises.part6_production import ch03_quantized_serving as ex


def test_check_bits_per_weight(capsys):
    ex.check_bits_per_weight(ex.bits_per_weight_reference)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="scale"):
        ex.check_bits_per_weight(lambda b, g, s: b)
    with pytest.raises(AssertionError, match="expected"):
        ex.check_bits_per_weight(lambda b, g, s: b + 32 / g)               # ignores the scale width


def test_check_parse_sse(capsys):
    ex.check_parse_sse(ex.parse_sse_reference)
    assert "✓" in capsys.readouterr().out

    def naive(raw):                                   # one line per event, "data: " with a space, no CRLF
        out = []
        for line in raw.split("\n"):
            if line.startswith("data: ") and line != "data: [DONE]":
                out.append(json.loads(line[6:]))
        return out

    with pytest.raises(AssertionError):
        ex.check_parse_sse(naive)

    def keeps_going(raw):                             # does not stop at [DONE]
        return [json.loads(e[5:]) for e in raw.replace("\r\n", "\n").split("\n\n")
                if e.startswith("data:") and "[DONE]" not in e and "\n" not in e]

    with pytest.raises(AssertionError):
        ex.check_parse_sse(keeps_going)


def test_check_greedy_verify(capsys):
    ex.check_greedy_verify(ex.greedy_verify_reference)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="first mismatch"):
        ex.check_greedy_verify(lambda t, d: (sum(a == b for a, b in zip(t, d)),
                                             t[sum(a == b for a, b in zip(t, d))]))

    def no_bonus(t, d):                               # forgets the bonus token: emits nothing new when all match
        n = 0
        while n < len(d) and d[n] == t[n]:
            n += 1
        return n, t[min(n, len(d) - 1)] if d else t[0]

    with pytest.raises(AssertionError, match="expected"):
        ex.check_greedy_verify(no_bonus)
    with pytest.raises(ValueError, match="γ"):
        ex.greedy_verify_reference([1, 2], [1, 2])
