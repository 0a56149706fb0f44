"""Exercise checkers for p3-i-a (GPUs and Triton).

Importing this module imports :mod:`book.kernels` first, so that a reader's
``@triton.jit`` kernel runs in Triton's interpreter when there is no CUDA GPU.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

import book.kernels  # noqa: F401  (sets TRITON_INTERPRET=1 before any kernel is defined)
from book.checks import assert_close
from book.exercises import passed
from book.kernels import INTERPRETED
from book.kernels.norm import rms_norm_reference

_DEV = "cpu" if INTERPRETED else "cuda"


# ------------------------------------------------------------ ex-p3-ia-1: arithmetic intensity

def matmul_intensity_reference(m: int, n: int, k: int, bytes_per_element: int) -> float:
    """FLOPs per byte of C = A B, A (m, k), B (k, n), reading A and B and writing C once."""
    return 2 * m * n * k / (bytes_per_element * (m * k + k * n + m * n))


def check_matmul_intensity(fn: Callable[[int, int, int, int], float]) -> None:
    """``fn(m, n, k, s)`` must return the minimum-traffic arithmetic intensity of an (m,k)x(k,n) product."""
    cases = [(4096, 4096, 4096, 2), (1, 8192, 8192, 2), (8192, 1, 8192, 4), (7, 13, 5, 1), (128, 64, 4096, 2)]
    for m, n, k, s in cases:
        got = float(fn(m, n, k, s))
        want = matmul_intensity_reference(m, n, k, s)
        if abs(got - want) <= 1e-9 * want:
            continue
        hint = "FLOPs = 2mnk; bytes = s·(mk + kn + mn)."
        if abs(got - want / 2) <= 1e-9 * want:
            hint = "a multiply-add is two FLOPs, so the work is 2mnk, not mnk."
        elif abs(got - 2 * m * n * k / (s * (m * k + k * n))) <= 1e-9 * want:
            hint = "the output C must be written too: add s·mn bytes."
        elif abs(got - want * s) <= 1e-9 * want * s:
            hint = "divide by bytes, not elements: multiply the element count by s."
        raise AssertionError(f"for m={m}, n={n}, k={k}, s={s} you returned {got:.6g}, "
                             f"expected {want:.6g}. Hint: {hint}")
    passed(f"arithmetic intensity of a matmul on {len(cases)} shapes, a GEMV included")


# ------------------------------------------------------------ ex-p3-ia-3: program order

def column_grouped_tile_reference(pid: int, num_pid_m: int, num_pid_n: int, group_n: int) -> tuple[int, int]:
    """Program id -> (tile row, tile column), ``group_n`` tile columns per group, row by row inside a group."""
    in_group = group_n * num_pid_m
    first = pid // in_group * group_n
    size = min(num_pid_n - first, group_n)
    return (pid % in_group) // size, first + (pid % in_group) % size


def check_column_grouped_order(fn: Callable[[int, int, int, int], tuple]) -> None:
    """``fn(pid, num_pid_m, num_pid_n, group_n)`` must return (pid_m, pid_n) in the column-grouped order."""
    grids = [(8, 12, 4), (5, 7, 3), (1, 9, 4), (6, 1, 2), (4, 4, 1), (3, 10, 16)]
    for num_m, num_n, g in grids:
        seen = set()
        for pid in range(num_m * num_n):
            got = tuple(int(v) for v in fn(pid, num_m, num_n, g))
            want = column_grouped_tile_reference(pid, num_m, num_n, g)
            assert got == want, (
                f"grid of {num_m} x {num_n} tiles, group_n={g}: program {pid} computes tile {got}, expected {want}. "
                "Hint: group_n consecutive tile *columns* form a group of group_n·num_pid_m programs; inside it, "
                "consecutive programs move along a row (pid_n changes fastest), and the last group may be narrower.")
            seen.add(got)
        assert len(seen) == num_m * num_n, "every tile must be computed by exactly one program"
    passed(f"column-grouped program order on {len(grids)} grids, ragged last groups included")


# ------------------------------------------------------------ ex-p3-ia-4: RMSNorm kernel

def check_rms_norm(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> None:
    """``fn(x, weight, eps)`` must return RMSNorm over the last dimension, for any leading shape."""
    gen = torch.Generator().manual_seed(11)
    tol = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float16: dict(rtol=1e-2, atol=1e-2)}
    cases = [((7, 33), torch.float32), ((1, 1), torch.float32), ((3, 5, 129), torch.float32),
             ((16, 300), torch.float16), ((4, 64), torch.float32)]
    for shape, dtype in cases:
        x = torch.randn(*shape, generator=gen)
        if shape == (4, 64):
            x[2] = 0.0                       # a row of zeros: only eps keeps it finite
        w = torch.randn(shape[-1], generator=gen)
        x, w = x.to(dtype).to(_DEV), w.to(dtype).to(_DEV)
        got = fn(x, w, 1e-6)
        assert isinstance(got, torch.Tensor) and got.shape == x.shape, (
            f"for x of shape {tuple(x.shape)} return a tensor of the same shape, got "
            f"{tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}")
        assert torch.isfinite(got.float()).all(), (
            f"non-finite output for x of shape {tuple(x.shape)}. Hint: add eps inside the square root.")
        want = rms_norm_reference(x, w, 1e-6)
        try:
            assert_close(got, want, name=f"rms_norm on {tuple(shape)} {str(dtype)[6:]}", **tol[dtype])
        except AssertionError as exc:
            raise AssertionError(f"{exc}. Hint: RMSNorm divides by sqrt(mean(x²) + eps) and does not subtract "
                                 "the mean; padding lanes must read 0.") from None
    passed(f"rms_norm = reference on {len(cases)} cases (ragged widths, a zero row, fp16)")
