"""The Part III §I-a exercise checkers accept correct answers and reject wrong ones."""

from __future__ import annotations

import pytest
import torch

from book.exercises.part3_efficiency import ch01a_gpus_and_triton as ex
from book.kernels.norm import layer_norm, rms_norm


def _rms_torch(x, w, eps):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * w.float()).to(x.dtype)


def test_checkers_accept_correct_answers(capsys):
    ex.check_matmul_intensity(ex.matmul_intensity_reference)
    ex.check_column_grouped_order(ex.column_grouped_tile_reference)
    ex.check_rms_norm(_rms_torch)
    ex.check_rms_norm(rms_norm)                       # the package's Triton kernel
    assert capsys.readouterr().out.count("✓") == 4


def test_intensity_checker_rejects_wrong_answers():
    with pytest.raises(AssertionError, match="two FLOPs"):
        ex.check_matmul_intensity(lambda m, n, k, s: m * n * k / (s * (m * k + k * n + m * n)))
    with pytest.raises(AssertionError, match="output C"):
        ex.check_matmul_intensity(lambda m, n, k, s: 2 * m * n * k / (s * (m * k + k * n)))
    with pytest.raises(AssertionError, match="bytes, not elements"):
        ex.check_matmul_intensity(lambda m, n, k, s: 2 * m * n * k / (m * k + k * n + m * n))


def test_order_checker_rejects_wrong_answers():
    with pytest.raises(AssertionError, match="Hint"):                     # plain row-major order
        ex.check_column_grouped_order(lambda pid, nm, nn, g: (pid // nn, pid % nn))

    def row_grouped(pid, nm, nn, g):                                      # the GROUP_M scheme instead
        in_group = g * nn
        first = pid // in_group * g
        size = min(nm - first, g)
        return first + (pid % in_group) % size, (pid % in_group) // size
    with pytest.raises(AssertionError, match="Hint"):
        ex.check_column_grouped_order(row_grouped)

    def no_ragged_group(pid, nm, nn, g):                                  # assumes num_pid_n % g == 0
        in_group = g * nm
        first = pid // in_group * g
        return (pid % in_group) // g, first + (pid % in_group) % g
    with pytest.raises(AssertionError, match="Hint"):
        ex.check_column_grouped_order(no_ragged_group)


def test_rms_checker_rejects_wrong_answers():
    with pytest.raises(AssertionError, match="Hint"):                     # centres the row: LayerNorm
        ex.check_rms_norm(lambda x, w, eps: layer_norm(x, w, None, eps))
    with pytest.raises(AssertionError, match="eps"):                      # forgets eps: NaN on the zero row
        ex.check_rms_norm(lambda x, w, eps: _rms_torch(x, w, 0.0))
    with pytest.raises(AssertionError, match="shape"):
        ex.check_rms_norm(lambda x, w, eps: _rms_torch(x, w, eps).reshape(-1))
