"""Exercise checkers for p6-8 (the timeline: milestones per part, section labels, packing labels into lines).

The references are written out here: counting milestones by the part of the
book their link belongs to, reading ``(label)=`` lines the way the book's
structural tests read them, and greedy left-to-right packing of label widths
into lines. Inputs are awkward on purpose: labels without a part, indented and
inline label lines, Windows line endings, exact fits and a label wider than
the line.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable

from book.exercises import passed

ROMAN = {"1": "I", "2": "II", "3": "III", "4": "IV", "5": "V", "6": "VI"}
LABEL_TARGET = re.compile(r"^\(([^)\s]+)\)=\s*$", re.M)


# ------------------------------------------------------------ ex-p6-8-1: milestones per part
def milestones_per_part_reference(milestones: list[dict]) -> dict[str, int]:
    """Part (roman numeral) -> number of milestones whose ``link`` is a label ``p<part>-…`` of that part."""
    counts: Counter[str] = Counter()
    for m in milestones:
        link = m["link"]
        if not (len(link) > 2 and link[0] == "p" and link[1] in ROMAN and link[2] == "-"):
            raise ValueError(f"{m.get('name', '?')}: link {link!r} is not a label of Parts I-VI")
        counts[ROMAN[link[1]]] += 1
    return dict(counts)


def check_milestones_per_part(fn: Callable[[list[dict]], dict]) -> None:
    """``fn(milestones)`` -> {"I": count, …}; a link outside Parts I–VI raises ``ValueError``."""
    cases = [
        ("one per part", [{"name": f"m{i}", "link": f"p{i}-1"} for i in range(1, 7)]),
        ("roman-numbered sections", [{"name": "LoRA", "link": "p3-ii-lora"}, {"name": "FA", "link": "p3-i-b"},
                                     {"name": "Adam", "link": "p2-viii-adam"}]),
        ("dotted sections of Part VI", [{"name": "vLLM", "link": "p6-2.3"}, {"name": "cost", "link": "p6-1.1"}]),
    ]
    for name, ms in cases:
        want = milestones_per_part_reference(ms)
        got = {k: v for k, v in dict(fn(ms)).items() if v}
        if got and all(k.isdigit() for k in got):
            raise AssertionError(f"{name}: keys {sorted(got)} are digits; use roman numerals 'I' … 'VI'")
        assert got == want, f"{name}: got {got}, expected {want}"
    for bad in ([{"name": "intro", "link": "intro"}], [{"name": "seventh", "link": "p7-1"}],
                [{"name": "no dash", "link": "p12"}]):
        try:
            fn(bad)
        except ValueError:
            continue
        raise AssertionError(f"link {bad[0]['link']!r}: expected a ValueError, it is not a label of Parts I-VI")
    passed(f"milestones per part on {len(cases)} cases, and ValueError for links outside Parts I-VI")


# ------------------------------------------------------------ ex-p6-8-2: labels a page defines
def labels_in_reference(markdown: str) -> set[str]:
    """Labels of the lines that are exactly ``(label)=`` (trailing whitespace allowed)."""
    return set(LABEL_TARGET.findall(markdown))


def check_labels_in(fn: Callable[[str], set]) -> None:
    """``fn(markdown)`` -> the set of labels defined by ``(label)=`` lines."""
    cases = [
        ("a title and two sections", "(p9-1)=\n# 9. T\n\ntext\n\n(p9-1.1)=\n## 9.1 A\n\n(p9-1.2)=\n## 9.2 B\n"),
        ("trailing spaces and a Windows line end", "(a-1)=   \n# A\r\n(b-2)=\r\n## B\r\n"),
        ("not labels: inline, indented, followed by text, with a space",
         "see (p1-1)= inline\n  (indented)=\n(p2-1)= text after\n(has space)=\n(ok)=\n"),
        ("the first line only would miss the rest", "intro\n(late-1)=\n# Late\n"),
        ("empty text", ""),
    ]
    for name, text in cases:
        want = labels_in_reference(text)
        got = set(fn(text))
        if "text after" in text and "p2-1" in got:
            raise AssertionError(f"{name}: '(p2-1)= text after' is prose, not a label line; only whitespace may "
                                 "follow ')='")
        assert got == want, f"{name}: got {sorted(got)}, expected {sorted(want)}"
    passed(f"label lines read as the book's tests read them, on {len(cases)} texts")


# ------------------------------------------------------------ ex-p6-8-3: greedy packing into lines
def pack_rows_reference(widths: list[float], max_width: float, gap: float) -> list[tuple[int, float]]:
    """(line, left edge) per width, packed greedily left to right; a label wraps if it would end past max_width."""
    placed, line, x = [], 0, 0.0
    for w in widths:
        if x > 0 and x + w > max_width:
            line, x = line + 1, 0.0
        placed.append((line, x))
        x += w + gap
    return placed


def check_pack_rows(fn: Callable[[list[float], float, float], list]) -> None:
    """``fn(widths, max_width, gap)`` -> [(line, left), …] in the order of ``widths``."""
    cases = [
        ("everything fits on one line", ([0.1, 0.2, 0.1], 1.0, 0.05)),
        ("a wrap after the second label", ([0.4, 0.4, 0.4], 1.0, 0.05)),
        ("an exact fit stays on the line", ([0.5, 0.25, 0.125], 1.0, 0.0625)),
        ("a label wider than the line goes alone", ([0.3, 1.5, 0.3], 1.0, 0.02)),
        ("the very first label wider than the line", ([1.5, 0.3], 1.0, 0.02)),
        ("no labels", ([], 1.0, 0.01)),
    ]
    for name, (widths, max_width, gap) in cases:
        want = pack_rows_reference(widths, max_width, gap)
        got = [(int(line), float(x)) for line, x in fn(list(widths), max_width, gap)]
        assert len(got) == len(want), f"{name}: got {len(got)} placements for {len(widths)} labels"
        for k, ((gl, gx), (wl, wx)) in enumerate(zip(got, want)):
            if gl == wl + 1 and k == 0:
                raise AssertionError(f"{name}: the first label starts on a new line; wrap only when x > 0")
            assert gl == wl and math.isclose(gx, wx, abs_tol=1e-12), (
                f"{name}: label {k} placed at line {gl}, x = {gx:.4g}; expected line {wl}, x = {wx:.4g}")
    passed(f"greedy packing on {len(cases)} cases: exact fits, an over-wide label, no labels")
