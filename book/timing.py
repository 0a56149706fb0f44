"""Wall-clock timing of a function: median over repeats after a warm-up.

On a GPU the clock is read after ``torch.cuda.synchronize()`` so that queued
kernels are counted. Used by every chapter that states a speed-up, from p2-v-kv-cache on.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Seconds per call: the median and the spread of ``repeat`` measurements."""

    median: float
    minimum: float
    maximum: float
    repeat: int

    def __str__(self) -> str:
        return f"{self.median * 1e3:.3g} ms (median of {self.repeat})"


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def time_fn(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> Timing:
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeat`` timed ones.

    >>> t = time_fn(lambda: sum(range(1000)), repeat=3)
    >>> t.repeat, t.minimum <= t.median <= t.maximum
    (3, True)
    """
    if repeat < 1 or warmup < 0:
        raise ValueError(f"need repeat >= 1 and warmup >= 0, got repeat={repeat}, warmup={warmup}")
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        _sync()
        start = time.perf_counter()
        fn()
        _sync()
        samples.append(time.perf_counter() - start)
    return Timing(statistics.median(samples), min(samples), max(samples), repeat)
