"""Exercise checkers for p6-1 (inference economics: KV-cache bytes, the critical batch, decode throughput).

The references are the closed forms of :mod:`book.inference.economics`.
Inputs are awkward on purpose: a single token and a batch of one, an fp8
cache (one byte per number), a CPU-like chip whose ridge point is a few
FLOPs per byte, a model without grouped-query attention, and a context so
long that the cache read outweighs the weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from book.exercises import passed
from book.inference import economics as ec


# ------------------------------------------------------------ ex-p6-1-1: KV-cache bytes
def kv_cache_bytes_reference(n_layer: int, n_kv_head: int, head_dim: int, tokens: int, batch: int,
                             bytes_per_number: float) -> float:
    """Keys and values of every layer: 2 · L · H_kv · D · T · B · s."""
    return 2.0 * n_layer * n_kv_head * head_dim * tokens * batch * bytes_per_number


def check_kv_cache_bytes(fn: Callable[[int, int, int, int, int, float], float]) -> None:
    """``fn(n_layer, n_kv_head, head_dim, tokens, batch, bytes_per_number)`` -> bytes of the KV cache."""
    cases = [
        ("the tiny GPT, 37 tokens, batch 3, fp32", (2, 4, 16, 37, 3, 4)),
        ("LLaMA-2-70B, one token, bf16", (80, 8, 128, 1, 1, 2)),
        ("LLaMA-2-70B without GQA, 4096 tokens", (80, 64, 128, 4096, 1, 2)),
        ("an fp8 cache, 1823 tokens, batch 7", (32, 8, 128, 1823, 7, 1)),
    ]
    for name, args in cases:
        want = kv_cache_bytes_reference(*args)
        got = float(fn(*args))
        if math.isclose(got, want / args[5], rel_tol=1e-9) and args[5] not in (1, 2):
            raise AssertionError(f"{name}: got {got:.6g}, a count of numbers; multiply by the bytes per number")
        if math.isclose(got, want / 2, rel_tol=1e-9):
            raise AssertionError(f"{name}: got {got:.6g}, half the answer: the cache holds keys AND values")
        assert math.isclose(got, want, rel_tol=1e-9), (
            f"{name}: got {got:.6g} bytes, expected {want:.6g} = 2·L·H_kv·D·T·B·s")
    passed(f"KV-cache bytes on {len(cases)} shapes: GQA, no GQA, a batch, an fp8 cache")


# ------------------------------------------------------------ ex-p6-1-2: the critical batch
def critical_batch_reference(peak_flops: float, bandwidth: float, bytes_per_param: float) -> int:
    """Smallest whole batch whose decoding intensity 2B/s reaches the ridge P/B_mem (KV cache ignored)."""
    return math.ceil(bytes_per_param * peak_flops / (2.0 * bandwidth) - 1e-9)


def check_critical_batch(fn: Callable[[float, float, float], int]) -> None:
    """``fn(peak_flops, bandwidth, bytes_per_param)`` -> the batch at which a decoding step turns compute-bound."""
    cases = [
        ("A100 SXM, bf16", (ec.A100_SXM_80GB.peak_flops, ec.A100_SXM_80GB.bandwidth, 2.0)),
        ("H200 SXM, bf16", (ec.H200_SXM.peak_flops, ec.H200_SXM.bandwidth, 2.0)),
        ("H200 SXM, int4 weights", (ec.H200_SXM.peak_flops, ec.H200_SXM.bandwidth, 0.5)),
        ("a CPU core, fp32", (9.1e10, 2.3e10, 4.0)),
        ("a chip whose ridge is an exact integer", (4e12, 1e12, 2.0)),
    ]
    for name, args in cases:
        want = critical_batch_reference(*args)
        got = fn(*args)
        if not isinstance(got, int):
            raise AssertionError(f"{name}: return a whole number of sequences (an int), got {got!r}")
        if got == want - 1:
            raise AssertionError(f"{name}: got {got}, one short: round up, so that 2B/s reaches the ridge")
        if got == math.ceil(args[0] / (args[2] * args[1])) and got != want:
            raise AssertionError(f"{name}: got {got}; the intensity is 2B/s, so the batch is s·P/(2·B_mem), "
                                 "not P/(s·B_mem)")
        assert got == want, f"{name}: got {got}, expected {want} = ceil(s · P / (2 · B_mem))"
    passed(f"critical batch on {len(cases)} chips and precisions")


# ------------------------------------------------------------ ex-p6-1-3: decode throughput
def check_decode_throughput(fn: Callable[..., float]) -> None:
    """``fn(shape, hw, context, batch, bytes_per_param, kv_bytes)`` -> roofline tokens/s of a decoding step."""
    tiny = ec.TransformerShape(n_layer=2, d_model=64, n_head=4, n_kv_head=4, d_ff=256, vocab_size=64, name="tiny")
    mha70 = ec.TransformerShape(n_layer=80, d_model=8192, n_head=64, n_kv_head=64, d_ff=28672, vocab_size=32000,
                                gated_mlp=True, tied_embeddings=False, name="70B without GQA")
    cpu = ec.Hardware("a CPU core", peak_flops=9e10, bandwidth=2.3e10)
    cases = [
        ("tiny GPT on a CPU core, fp32", (tiny, cpu, 37, 1, 4.0, 4.0)),
        ("70B on an A100, int8, short context", (ec.LLAMA2_70B, ec.A100_SXM_80GB, 16, 1, 1.0, 2.0)),
        ("70B on an H200, batch 32, 100k context", (ec.LLAMA2_70B, ec.H200_SXM, 100_000, 32, 1.0, 2.0)),
        ("70B without GQA, batch 8", (mha70, ec.A100_SXM_80GB, 2048, 8, 2.0, 2.0)),
        ("compute-bound: batch 512 on a CPU core", (tiny, cpu, 0, 512, 4.0, 4.0)),
    ]
    for name, (shape, hw, context, batch, s, kv) in cases:
        want = ec.decode_tokens_per_second(shape, hw, context, batch, bytes_per_param=s, kv_bytes=kv)
        got = float(fn(shape, hw, context, batch, s, kv))
        per_seq = batch / ec.step_time(ec.Cost(batch * ec.decode_cost(shape, context, 1, s, kv).flops,
                                               batch * ec.decode_cost(shape, context, 1, s, kv).bytes, batch), hw)
        if batch > 1 and math.isclose(got, per_seq, rel_tol=1e-6) and not math.isclose(got, want, rel_tol=1e-6):
            raise AssertionError(f"{name}: got {got:.6g} tokens/s, as if each sequence read the weights itself; "
                                 "the weights are read once per step for the whole batch")
        assert math.isclose(got, want, rel_tol=1e-6), (
            f"{name}: got {got:.6g} tokens/s, expected {want:.6g}: B / max(FLOPs / P, bytes / B_mem), with "
            "FLOPs = B(2N + 4Ld(S+1)) and bytes = Ns + B(S+1)k")
    passed(f"decode throughput on {len(cases)} cases: bandwidth-, cache- and compute-bound")
