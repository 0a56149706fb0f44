"""book.quant: round-trip bounds, GPTQ (blocked = unblocked = explicit OBS), AWQ never worse than
round-to-nearest, and Q8_0 / Q4_0 byte-identical to the ``gguf`` package's port of ggml's quantiser."""

from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch
from gguf import quants as gguf_quants

from book.quant import awq, ggml, gptq, weight_only

# --------------------------------------------------------------------------- absmax, zero-point, INT4 packing

@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("group_size", [None, 1, 13])
def test_absmax_round_trip_within_half_a_step(bits, group_size):
    w = torch.randn(37, 91, generator=torch.Generator().manual_seed(bits)) * 3
    w[0, :13] = 0.0                                                    # an all-zero group: s stays > 0, Ŵ = 0
    q, s = weight_only.quantize_absmax(w, bits, group_size)
    g = 91 if group_size is None else group_size
    assert q.dtype == torch.int8 and s.shape == (37, 91 // g)
    qmax = 2 ** (bits - 1) - 1
    assert int(q.abs().max()) <= qmax
    w_hat = weight_only.dequantize_absmax(q, s)
    step = s.repeat_interleave(g, dim=1)
    assert bool(((w_hat - w).abs() <= step / 2 * (1 + 1e-5)).all())
    assert bool((w_hat[w == 0] == 0).all())                              # zero is exact
    if group_size == 1:                                                  # every value is its group's maximum
        torch.testing.assert_close(w_hat, w, rtol=1e-6, atol=0)


@pytest.mark.parametrize("bits", [4, 8])
def test_zero_point_round_trip_and_codes(bits):
    g = torch.Generator().manual_seed(1)
    w = torch.randn(23, 64, generator=g).abs() + 0.5                     # all positive: the range is [0, max]
    q, s, z = weight_only.quantize_zero_point(w, bits, 32)
    assert q.dtype == z.dtype == torch.uint8 and int(q.max()) == 2 ** bits - 1 and int(z.max()) == 0
    w_hat = weight_only.dequantize_zero_point(q, s, z)
    assert bool(((w_hat - w).abs() <= s.repeat_interleave(32, 1) / 2 * (1 + 1e-5)).all())
    w2 = torch.randn(23, 64, generator=g)
    q2, s2, z2 = weight_only.quantize_zero_point(w2, bits)
    back = weight_only.dequantize_zero_point(q2, s2, z2)
    assert bool(((back - w2).abs() <= s2 / 2 * (1 + 1e-5)).all())
    zero = weight_only.dequantize_zero_point(z2.repeat(1, 1).expand(-1, 64).contiguous(), s2, z2)
    assert bool((zero == 0).all())                                       # code z means exactly 0


def test_zero_point_beats_absmax_on_one_sided_data():
    x = torch.nn.functional.gelu(torch.randn(200, 300, generator=torch.Generator().manual_seed(2)))
    e_abs = weight_only.round_trip(x, "int8") - x
    e_zp = weight_only.round_trip(x, "int8_zero_point") - x
    assert float(e_zp.pow(2).mean()) < 0.5 * float(e_abs.pow(2).mean())


def test_int4_packing_nibble_order_and_round_trip():
    q = torch.tensor([[-8, 7, 0, -1, 3, -3]], dtype=torch.int8)
    packed = weight_only.pack_int4(q)
    assert packed.tolist() == [[0 | (15 << 4), 8 | (7 << 4), 11 | (5 << 4)]]   # element 2j low, 2j+1 high
    assert torch.equal(weight_only.unpack_int4(packed), q)
    w = torch.randn(19, 96, generator=torch.Generator().manual_seed(3))
    packed, scales = weight_only.quantize_int4(w, 32)
    codes, scales2 = weight_only.quantize_absmax(w, 4, 32)
    assert torch.equal(weight_only.unpack_int4(packed), codes) and torch.equal(scales, scales2)
    torch.testing.assert_close(weight_only.dequantize_int4(packed, scales, 32), weight_only.round_trip(w, "int4", 32))
    x = torch.randn(5, 96, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(weight_only.int4_matmul_reference(x, packed, scales, 32),
                               x @ weight_only.dequantize_int4(packed, scales, 32).T)


@pytest.mark.parametrize("call, match", [
    (lambda w: weight_only.quantize_absmax(w, 4, group_size=7), "group_size=7 does not divide"),
    (lambda w: weight_only.quantize_zero_point(w, 4, group_size=0), "group_size must be a positive"),
    (lambda w: weight_only.quantize_int4(w, group_size=3), "group_size must be even"),
    (lambda w: weight_only.quantize_absmax(w, bits=1), "bits must be an integer from 2 to 8"),
    (lambda w: weight_only.round_trip(w, "int3"), "unknown format fmt='int3'"),
    (lambda w: weight_only.quantize_absmax(w[0], 4), "weight must be a 2-D floating-point tensor"),
    (lambda w: weight_only.quantize_absmax(w.long(), 4), "weight must be a 2-D floating-point tensor"),
    (lambda w: weight_only.pack_int4(torch.full((2, 4), 9, dtype=torch.int8)), r"in \[-8, 7\]"),
    (lambda w: ggml.quantize_q4_0(w[:, :48]), "multiple of the block size 32"),
    (lambda w: ggml.dequantize_q8_0(torch.zeros(2, 33, dtype=torch.uint8)), "whole Q8_0 blocks"),
    (lambda w: gptq.gptq_quantize(w, torch.eye(63)), r"h has shape \(63, 63\); expected \(64, 64\)"),
    (lambda w: gptq.gptq_quantize(w, torch.eye(64), block_size=0), "block_size must be a positive"),
    (lambda w: awq.awq_quantize(w, torch.randn(10, 65)), r"x has shape \(10, 65\)"),
])
def test_bad_input_raises_a_clear_error(call, match):
    w = torch.randn(8, 64)
    with pytest.raises(ValueError, match=match):
        call(w)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("fmt", list(weight_only.FORMATS))
def test_non_finite_weights_are_refused(fmt, bad):
    w = torch.randn(4, 64)
    w[2, 40] = bad
    with pytest.raises(ValueError, match=r"1 non-finite values .* at index \(2, 40\)"):
        weight_only.round_trip(w, fmt, 32)


# --------------------------------------------------------------------------- GPTQ

def _obs_reference(w, h, bits, group_size, damp=0.01):
    """GPTQ's greedy order with H_F inverted afresh at every step: the Optimal Brain Surgeon update as written."""
    W, H = w.double().clone(), h.double().clone()
    n, k = W.shape
    g = k if group_size is None else group_size
    qmax = 2 ** (bits - 1) - 1
    dead = torch.diag(H) == 0
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    H += damp * torch.diag(H).mean() * torch.eye(k, dtype=H.dtype)
    Q = torch.zeros(n, k, dtype=torch.float64)
    S = torch.zeros(n, k // g, dtype=torch.float64)
    for i in range(k):
        if i % g == 0:
            S[:, i // g] = W[:, i:i + g].abs().amax(dim=1).clamp_min(1e-12) / qmax
        s = S[:, i // g]
        Q[:, i] = torch.round(W[:, i] / s).clamp(-qmax, qmax)
        hinv = torch.linalg.inv(H[i:, i:])
        W[:, i:] -= ((W[:, i] - Q[:, i] * s) / hinv[0, 0])[:, None] * hinv[0][None, :]
    return Q.to(torch.int8), S


def _layer(n, k, seed, dead=()):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n, k, generator=g, dtype=torch.float64)
    x = torch.randn(4 * k, k // 2 + 1, generator=g, dtype=torch.float64) @ torch.randn(k // 2 + 1, k, generator=g,
                                                                                       dtype=torch.float64)
    x = x + 0.2 * torch.randn(4 * k, k, generator=g, dtype=torch.float64)        # correlated inputs
    x[:, list(dead)] = 0.0
    return w, x


@pytest.mark.parametrize("n, k, bits, group_size, dead", [
    (37, 96, 4, 32, (7,)), (5, 33, 3, None, ()), (16, 64, 4, 16, (0, 63)), (1, 40, 2, 8, ()),
])
def test_gptq_blocked_equals_unblocked_equals_obs(n, k, bits, group_size, dead):
    w, x = _layer(n, k, seed=n + k, dead=dead)
    h = gptq.hessian(x)
    q_ref, s_ref = _obs_reference(w, h, bits, group_size)
    plain = gptq.gptq_quantize(w, h, bits, group_size, block_size=1)
    assert torch.equal(plain.q, q_ref)
    torch.testing.assert_close(plain.scales.double(), s_ref, rtol=1e-6, atol=0)
    for block in (2, 5, 7, 16, k - 1, k, 128):                    # blocks that cut groups and ones that do not
        res = gptq.gptq_quantize(w, h, bits, group_size, block_size=block)
        assert torch.equal(res.q, plain.q), f"block_size={block}"
        torch.testing.assert_close(res.scales, plain.scales, rtol=1e-6, atol=0)
        torch.testing.assert_close(res.w_hat, weight_only.dequantize_absmax(res.q, res.scales))
    for i in dead:                                                # an input no token activates: weight zeroed
        assert bool((plain.q[:, i] == 0).all())


@pytest.mark.parametrize("seed", range(4))
def test_gptq_beats_round_to_nearest_on_the_layer_objective(seed):
    w, x = _layer(24, 64, seed)
    x_new = _layer(24, 64, seed)[1] if seed else x
    res = gptq.gptq_quantize(w, gptq.hessian(x), 4, 32, block_size=16)
    rtn = weight_only.round_trip(w.float(), "int4", 32).double()
    assert awq.output_error(x, w, res.w_hat) < 0.8 * awq.output_error(x, w, rtn)
    assert awq.output_error(x_new, w, res.w_hat) < awq.output_error(x_new, w, rtn)
    packed = res.packed_int4()
    torch.testing.assert_close(weight_only.dequantize_int4(packed, res.scales, 32), res.w_hat)


def test_hessian_is_two_x_transpose_x():
    x = torch.randn(50, 12, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(gptq.hessian(x), 2 * x.double().T @ x.double())


# --------------------------------------------------------------------------- AWQ

@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("outliers", [0, 3])
def test_awq_never_loses_to_round_to_nearest_on_its_calibration_batch(seed, outliers):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(29, 64, generator=g)
    x = torch.randn(300, 64, generator=g) * torch.rand(64, generator=g).add(0.2)
    if outliers:
        x[:, torch.randperm(64, generator=g)[:outliers]] *= 20
    res = awq.awq_quantize(w, x, bits=4, group_size=32, n_grid=10)
    rtn = awq.output_error(x, w, weight_only.round_trip(w, "int4", 32))
    assert res.alphas[0] == 0 and res.losses[0] == rtn                # s = 1 is in the grid, and it is RTN
    assert awq.output_error(x, w, res.w_hat) == min(res.losses) <= rtn
    assert res.alpha == res.alphas[res.losses.index(min(res.losses))]
    torch.testing.assert_close(res.w_hat, weight_only.dequantize_absmax(res.q, res.scales) / res.s)
    if outliers:
        assert min(res.losses) < 0.7 * rtn and res.alpha > 0


# --------------------------------------------------------------------------- ggml Q8_0 / Q4_0

def _ggml_cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    half_ties = np.concatenate([[127.0], np.arange(-15.5, 15.5, 1.0)]).astype(np.float32)  # d = 1: exact halves
    q8_ties = (np.array([127, 2.5, -2.5, 0.5, -0.5, 1.5, -1.5, 3.5] * 4, np.float32) * np.float32(16 / 127))
    q4_edges = np.concatenate([[-8.0], np.arange(-15, 16) / 2]).astype(np.float32)  # d = 1: x + 8.5 on integers
    plus_first = rng.standard_normal(32).astype(np.float32)
    plus_first[[3, 20]] = 5.0, -5.0                                      # a tie in |x|: the first one's sign wins
    minus_first = plus_first.copy()
    minus_first[[3, 20]] = -5.0, 5.0
    return {
        "random 37x96": rng.standard_normal((37, 96)).astype(np.float32),
        "all-zero blocks": np.zeros((3, 64), np.float32),
        "one nonzero": np.eye(1, 32, 9, dtype=np.float32) * -0.75,
        "constant": np.full((2, 32), 0.3, np.float32),
        "half ties": half_ties[None],
        "q8 ties": q8_ties[None],
        "q4 trunc edges": q4_edges[None],
        "+5 before -5": plus_first[None],
        "-5 before +5": minus_first[None],
        "fp16-subnormal scales": (rng.standard_normal((4, 64)) * 1e-6).astype(np.float32),
        "large": (rng.standard_normal((2, 32)) * 1e5).astype(np.float32),
        "heavy tails": (rng.standard_t(2, (16, 128)) * 0.02).astype(np.float32),
    }


@pytest.mark.parametrize("fmt", ["q8_0", "q4_0"])
@pytest.mark.parametrize("case", list(_ggml_cases()))
def test_ggml_blocks_are_byte_identical_to_gguf(fmt, case):
    x = _ggml_cases()[case]
    qtype = {"q8_0": gguf.GGMLQuantizationType.Q8_0, "q4_0": gguf.GGMLQuantizationType.Q4_0}[fmt]
    quantize = {"q8_0": ggml.quantize_q8_0, "q4_0": ggml.quantize_q4_0}[fmt]
    dequantize = {"q8_0": ggml.dequantize_q8_0, "q4_0": ggml.dequantize_q4_0}[fmt]
    ref = gguf_quants.quantize(x, qtype)
    ours = quantize(torch.from_numpy(x.copy()))
    assert ours.dtype == torch.uint8 and tuple(ours.shape) == ref.shape
    assert ref.shape[1] == x.shape[1] // ggml.QK * ggml.BLOCK_BYTES[fmt]
    np.testing.assert_array_equal(ours.numpy(), ref)
    np.testing.assert_array_equal(dequantize(torch.from_numpy(ref.copy())).numpy(), gguf_quants.dequantize(ref, qtype))
    torch.testing.assert_close(weight_only.round_trip(torch.from_numpy(x.copy()), fmt),
                               torch.from_numpy(gguf_quants.dequantize(ref, qtype)), rtol=0, atol=0)


def test_ggml_rounding_details_matter():
    """Halves go away from zero (roundf), and Q4_0's largest-magnitude value is stored exactly as code 0."""
    x = torch.tensor(_ggml_cases()["q8 ties"])
    d = x.abs().amax(dim=1, keepdim=True) / 127
    assert bool(((x / d) * 2 == torch.round((x / d) * 2)).all())        # the case really has exact halves
    assert torch.equal(ggml.roundf(torch.tensor([0.5, -0.5, 1.5, 2.5, -2.5, 0.49999997])),
                       torch.tensor([1.0, -1.0, 2.0, 3.0, -3.0, 0.0]))
    blocks = ggml.quantize_q4_0(torch.tensor(_ggml_cases()["-5 before +5"]))
    assert blocks[0, 2 + 3] & 0xF == 0                                   # value 3 (−5, first) is code 0
    back = ggml.dequantize_q4_0(blocks)
    assert float(back[0, 3]) == -5.0 and float(back[0, 20]) < 5.0        # +5 needs code 16: clipped to 15
    assert ggml.BITS_PER_WEIGHT == {"q8_0": 8.5, "q4_0": 4.5}


@pytest.mark.parametrize("seed", range(5))
def test_ggml_random_rows_match_gguf(seed):
    rng = np.random.default_rng(100 + seed)
    x = (rng.standard_normal((rng.integers(1, 9), 32 * int(rng.integers(1, 6)))) * 10.0 ** rng.uniform(-4, 2)
         ).astype(np.float32)
    for fmt, qtype in (("q8_0", gguf.GGMLQuantizationType.Q8_0), ("q4_0", gguf.GGMLQuantizationType.Q4_0)):
        quantize = ggml.quantize_q8_0 if fmt == "q8_0" else ggml.quantize_q4_0
        np.testing.assert_array_equal(quantize(torch.from_numpy(x)).numpy(), gguf_quants.quantize(x, qtype))
