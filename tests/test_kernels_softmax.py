"""The fused softmax kernel against PyTorch: awkward shapes, dtypes and bad input.

Runs in Triton's interpreter on a CPU and compiled on a CUDA GPU.
"""

from __future__ import annotations

import pytest
import torch

from book.checks import assert_close
from book.kernels import INTERPRETED
from book.kernels.softmax import softmax, softmax_reference

DEVICE = "cpu" if INTERPRETED else "cuda"
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-6), torch.float16: dict(rtol=2e-3, atol=1e-3)}


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (37, 1000), (5, 4097), (1823, 781)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_matches_torch_on_awkward_shapes(shape, dtype):
    if dtype == torch.float16 and shape == (1823, 781) and INTERPRETED:
        pytest.skip("one large shape per dtype is enough in the slow interpreter")
    torch.manual_seed(0)
    x = (torch.randn(shape) * 4).to(dtype).to(DEVICE)
    y = softmax(x)
    assert y.dtype == dtype and y.shape == x.shape
    assert_close(y, softmax_reference(x), name=f"softmax {shape} {dtype}", **TOL[dtype])
    assert_close(y.float().sum(-1), torch.ones(shape[0]), rtol=0, atol=2e-3 if dtype == torch.float16 else 1e-5,
                 name="row sums")


def test_extreme_logits_do_not_overflow():
    x = torch.tensor([[1e4, -1e4, 0.0], [-1e30, -1e30, -1e30]], device=DEVICE)
    y = softmax(x)
    assert torch.isfinite(y).all()
    assert_close(y, softmax_reference(x), rtol=1e-6, atol=1e-7)


def test_strided_rows_are_supported():
    wide = torch.randn(9, 300, device=DEVICE)
    view = wide[:, 17:250]  # a column slice: rows strided by 300
    assert_close(softmax(view), torch.softmax(view, -1), rtol=1e-5, atol=1e-6)


def test_empty_input():
    assert softmax(torch.empty(0, 7, device=DEVICE)).shape == (0, 7)


@pytest.mark.parametrize("bad, err, message", [
    ([[1.0, 2.0]], TypeError, "x must be a torch.Tensor, got list"),
    (torch.ones(2, 3, 4), ValueError, r"x must have 2 dimensions, got shape \(2, 3, 4\)"),
    (torch.ones(2, 3, dtype=torch.int32), TypeError, "x has dtype int32; supported: float32, float16"),
    (torch.ones(3, 4).t(), ValueError, r"contiguous rows \(stride\(1\) == 1\)"),
])
def test_bad_input_gets_a_clear_error(bad, err, message):
    if isinstance(bad, torch.Tensor):
        bad = bad.to(DEVICE)
    with pytest.raises(err, match=message):
        softmax(bad)


@pytest.mark.skipif(not INTERPRETED, reason="the interpreter rejects GPU tensors; compiled Triton rejects CPU ones")
def test_wrong_device_is_named():
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="x is on cuda"):
            softmax(torch.ones(2, 2, device="cuda"))
    else:
        pytest.skip("no CUDA device to misplace a tensor on")


@pytest.mark.skipif(INTERPRETED, reason="compiled kernels reject CPU tensors; needs a CUDA GPU")
def test_cpu_tensor_on_gpu_build_is_named():
    with pytest.raises(ValueError, match="x is on cpu"):
        softmax(torch.ones(2, 2))
