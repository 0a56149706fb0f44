"""Checks with readable reports: the asserts every chapter ends a build with.

:func:`assert_close` compares two arrays (NumPy, PyTorch or Python numbers)
and, on failure, says how far apart they are and where, instead of a bare
``AssertionError``. It returns the largest absolute error so a chapter can
print it (rounded) beside the assert. Taught in p1-ch1; every chapter checks with it.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def to_numpy(x: Any) -> np.ndarray:
    """NumPy float64 (or complex) copy of a tensor, array or number."""
    try:
        import torch

        if isinstance(x, torch.Tensor):
            x = x.detach().cpu()
            x = x.double() if not x.is_complex() else x
            return x.numpy()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    arr = np.asarray(x)
    return arr if np.iscomplexobj(arr) else arr.astype(np.float64)


def max_abs_error(actual: Any, expected: Any) -> float:
    a, e = to_numpy(actual), to_numpy(expected)
    if a.shape != e.shape:
        raise ValueError(f"shapes differ: actual {a.shape} vs expected {e.shape}")
    return float(np.max(np.abs(a - e))) if a.size else 0.0


def assert_close(actual: Any, expected: Any, *, rtol: float = 1e-6, atol: float = 1e-8,
                 name: str = "value") -> float:
    """Assert ``|actual - expected| <= atol + rtol * |expected|`` elementwise.

    Returns the maximum absolute error. On failure the message names ``name``,
    the shapes, the worst element and its errors.

    >>> assert_close([1.0, 2.0], [1.0, 2.0 + 1e-9], name="demo") < 1e-8
    True
    """
    a, e = to_numpy(actual), to_numpy(expected)
    if a.shape != e.shape:
        raise AssertionError(f"{name}: shape {a.shape} does not match the reference's {e.shape}")
    if a.size == 0:
        return 0.0
    if np.isnan(a).any() != np.isnan(e).any() or (np.isnan(a) != np.isnan(e)).any():
        raise AssertionError(f"{name}: NaN in {int(np.isnan(a).sum())} places, reference has {int(np.isnan(e).sum())}")
    a0, e0 = np.nan_to_num(a), np.nan_to_num(e)
    err = np.abs(a0 - e0)
    bound = atol + rtol * np.abs(e0)
    if (err > bound).any():
        worst = np.unravel_index(int(np.argmax(err - bound)), err.shape)
        rel = float(err[worst] / max(abs(float(e0[worst])), 1e-300))
        raise AssertionError(
            f"{name}: {int((err > bound).sum())} of {err.size} elements differ beyond "
            f"atol={atol:g}, rtol={rtol:g}; worst at index {tuple(int(i) for i in worst)}: "
            f"got {float(a0[worst]):.6g}, expected {float(e0[worst]):.6g} "
            f"(abs err {float(err[worst]):.3g}, rel err {rel:.3g}); shape {a.shape}")
    return float(err.max())


def relative_error(actual: Any, expected: Any) -> float:
    """``‖actual − expected‖ / max(‖expected‖, tiny)`` in the 2-norm (the finite-difference check's yardstick)."""
    a, e = to_numpy(actual), to_numpy(expected)
    if a.shape != e.shape:
        raise ValueError(f"shapes differ: actual {a.shape} vs expected {e.shape}")
    return float(np.linalg.norm(a - e) / max(np.linalg.norm(e), 1e-300))
