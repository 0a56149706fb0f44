"""Exercise checkers for p6-3 (quantized serving behind an OpenAI-compatible API).

Three references: the storage cost of a weight-only format (codes plus the
scales of its groups), a parser for a server-sent event stream as the
``/v1/completions`` endpoint writes it (and as browsers and the ``openai``
client read it), and the greedy verify rule of speculative decoding. The
cases are awkward on purpose: one group per row, fp16 and fp32 scales, CRLF
line ends, comment lines, events split over several ``data:`` lines, a stream
cut before ``[DONE]``, no draft tokens at all, and a draft that is wholly right.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from book.exercises import passed


def bits_per_weight_reference(bits: int, group_size: int, scale_bits: int = 32) -> float:
    """Stored bits per weight: ``bits`` for the code plus one ``scale_bits`` scale shared by ``group_size`` weights."""
    return bits + scale_bits / group_size


def check_bits_per_weight(fn: Callable[..., float]) -> None:
    """``fn(bits, group_size, scale_bits)`` -> bits stored per weight."""
    cases = [(8, 64, 32), (4, 32, 32), (4, 128, 16), (4, 32, 16), (8, 4096, 32), (2, 16, 16), (16, 1, 0)]
    for bits, g, sb in cases:
        want, got = bits_per_weight_reference(bits, g, sb), float(fn(bits, g, sb))
        if abs(got - bits) < 1e-12 and want != bits:
            raise AssertionError(f"bits={bits}, group_size={g}, scale_bits={sb}: got {got}, only the codes; "
                                 "every group also stores one scale")
        assert abs(got - want) < 1e-12, (f"bits={bits}, group_size={g}, scale_bits={sb}: got {got}, expected "
                                         f"{want} = bits + scale_bits / group_size")
    passed("bits per weight correct: codes plus one scale per group (ggml Q4_0 = 4.5, GPTQ g128 fp16 = 4.125)")


def parse_sse_reference(raw: str) -> list[dict]:
    """The JSON payloads of a ``data:`` event stream, in order, up to ``data: [DONE]`` (or the end)."""
    events, out = raw.replace("\r\n", "\n").split("\n\n"), []
    for event in events:
        data = [line[5:].removeprefix(" ") for line in event.split("\n") if line.startswith("data:")]
        if not data:
            continue                                  # a comment (": ping") or an empty event
        payload = "\n".join(data)
        if payload == "[DONE]":
            break
        out.append(json.loads(payload))
    return out


SSE_CASES = [
    ("two chunks and DONE", 'data: {"a": 1}\n\ndata: {"a": 2}\n\ndata: [DONE]\n\n'),
    ("CRLF line ends", 'data: {"a": 1}\r\n\r\ndata: [DONE]\r\n\r\n'),
    ("a comment line (keep-alive)", ': ping\n\ndata: {"t": " the"}\n\ndata: [DONE]\n\n'),
    ("one event over two data lines", 'data: {"a":\ndata: 3}\n\ndata: [DONE]\n\n'),
    ("no space after the colon", 'data:{"b": true}\n\ndata:[DONE]\n\n'),
    ("cut before DONE", 'data: {"a": 1}\n\ndata: {"a": 2}\n\n'),
    ("text after DONE is ignored", 'data: {"a": 1}\n\ndata: [DONE]\n\ndata: {"a": 9}\n\n'),
    ("an event field and Unicode", 'event: completion\ndata: {"t": "ünï ☃"}\n\ndata: [DONE]\n\n'),
    ("an empty stream", ""),
]


def check_parse_sse(fn: Callable[[str], list]) -> None:
    """``fn(raw_text)`` -> the list of decoded JSON payloads before ``[DONE]``."""
    for name, raw in SSE_CASES:
        want = parse_sse_reference(raw)
        try:
            got = list(fn(raw))
        except Exception as e:
            raise AssertionError(f"{name}: {type(e).__name__}: {e} on input {raw!r}") from None
        assert got == want, f"{name}: got {got}, expected {want} for the stream {raw!r}"
    passed("event-stream parser correct: CRLF, comments, multi-line data, no space, cut streams, [DONE]")


def greedy_verify_reference(target_argmax: Sequence[int], drafts: Sequence[int]) -> tuple[int, int]:
    """(accepted drafts n, the token emitted after them): drafts are kept while they equal the target's argmax."""
    if len(target_argmax) != len(drafts) + 1:
        raise ValueError(f"need γ + 1 target tokens for γ drafts, got {len(target_argmax)} and {len(drafts)}")
    n = 0
    while n < len(drafts) and drafts[n] == target_argmax[n]:
        n += 1
    return n, target_argmax[n]


def check_greedy_verify(fn: Callable[[Sequence[int], Sequence[int]], tuple[int, int]]) -> None:
    """``fn(target_argmax, drafts)`` -> (accepted count, next token)."""
    cases = [("all accepted: the bonus token", [3, 1, 4, 1], [3, 1, 4]), ("first rejected", [3, 1, 4], [2, 1]),
             ("rejected in the middle, later drafts right by chance", [5, 6, 7, 8], [5, 0, 7]),
             ("no drafts (γ = 0)", [9], []), ("one draft, right", [2, 2], [2]),
             ("repeated tokens", [0, 0, 0, 1], [0, 0, 0])]
    for name, target, drafts in cases:
        want, got = greedy_verify_reference(target, drafts), tuple(int(x) for x in fn(list(target), list(drafts)))
        if name.startswith("rejected in the middle") and got[0] == 2:
            raise AssertionError(f"{name}: counted every matching draft ({got[0]}); stop at the first mismatch")
        assert got == want, (f"{name}: target argmax {target}, drafts {drafts}: got {got}, expected {want} "
                             "(accept while equal; then emit the target's own token at the first mismatch, or "
                             "the bonus token after the last draft)")
    passed("greedy verify correct: accepted prefix, correction token, bonus token, γ = 0")
