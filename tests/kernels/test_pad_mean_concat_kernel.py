"""td_pad_s8, td_mean_s8 and td_concat_s8 (host build) are bit-exact with the IR's numpy
references (tinydeploy.ir.ops.pad / mean / concatenation, themselves checked against TFLite
Micro on converter-produced models in tests/export/test_mobilenet_block_ops.py), on random
shapes, paddings and quantization parameters, and reject bad arguments."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_same

from tinydeploy.ir.ops import get_op
from tinydeploy.ir.ops.concatenation import Concatenation
from tinydeploy.ir.ops.mean import Mean, mean_multiplier
from tinydeploy.ir.ops.pad import Pad
from tinydeploy.tdnn.host import TdnnError
from tinydeploy.tdnn.structs import TD_ERR_ARG, MeanParams


def test_pad_random_shapes_match_reference(tdnn):
    rng = np.random.default_rng(11)
    for _ in range(300):
        h, w, c = (int(v) for v in rng.integers(1, 9, size=3))
        pads = [(int(a), int(b)) for a, b in rng.integers(0, 4, size=(3, 2))]
        if rng.random() < 0.5:
            pads[2] = (0, 0)  # the common case: spatial padding only (one copy per row)
        value = int(rng.integers(-128, 128))
        x = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
        op = Pad("pad", "x", "y", ((0, 0), *pads), value)
        want_shape = (1, h + sum(pads[0]), w + sum(pads[1]), c + sum(pads[2]))
        want = get_op("PAD").reference(op, [x[None]], want_shape)[0]
        assert_same(tdnn.pad(x, tuple(pads), value), want)


def test_pad_rejects_negative_pads_and_values_outside_int8(tdnn):
    x = np.zeros((2, 2, 1), np.int8)
    for pads, value in ((((-1, 0), (0, 0), (0, 0)), 0), (((0, 0), (0, 0), (0, 0)), 128)):
        with pytest.raises(TdnnError) as err:
            tdnn.pad(x, pads, value)
        assert err.value.status == TD_ERR_ARG


def _mean_op(count: int, s_in: float, s_out: float, zp_in: int, zp_out: int) -> Mean:
    mult, shift = mean_multiplier(s_in, s_out, count)
    return Mean("mean", "x", "y", count, zp_in, mult, shift, zp_out)


def _mean_params(op: Mean) -> MeanParams:
    return MeanParams(-op.input_zero_point, op.multiplier, op.shift, op.output_zero_point)


@pytest.mark.parametrize("same_quant", [False, True])
def test_mean_random_shapes_and_scales_match_reference(tdnn, same_quant):
    """Counts 1..400 (1x1 up to 20x20), scale ratios 2^-6..2^6 or 1 (same quantization)."""
    rng = np.random.default_rng(12 + same_quant)
    for _ in range(400):
        h, w = (int(v) for v in rng.integers(1, 21, size=2))
        c = int(rng.integers(1, 40))
        s_in = float(np.float32(2.0 ** rng.uniform(-8, -2)))
        s_out = s_in if same_quant else float(np.float32(s_in * 2.0 ** rng.uniform(-6, 6)))
        zp_in = int(rng.integers(-128, 128))
        zp_out = zp_in if same_quant else int(rng.integers(-128, 128))
        op = _mean_op(h * w, s_in, s_out, zp_in, zp_out)
        x = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
        want = get_op("MEAN").reference(op, [x[None]], (1, c))[0]
        assert_same(tdnn.mean(x, _mean_params(op)), want)


def test_mean_extremes_saturate_and_round(tdnn):
    """All -128 / all 127 inputs (the largest sums) saturate; a mean of -1.5 gives -1
    (SaturatingRoundingDoublingHighMul's tie at -2^31 / 2^31 goes up); a 64x64 input
    (count 4096: the 1/count folding at a large k)."""
    op = _mean_op(49, 0.02, 0.004, 10, -3)  # output range 5x narrower: saturates
    for fill in (-128, 127):
        x = np.full((7, 7, 3), fill, np.int8)
        want = get_op("MEAN").reference(op, [x[None]], (1, 3))[0]
        assert_same(tdnn.mean(x, _mean_params(op)), want)
        assert abs(int(want[0])) in (127, 128)
    half = _mean_op(2, 0.1, 0.1, 0, 0)
    assert tdnn.mean(np.array([[[-1], [-2]]], np.int8), _mean_params(half)).tolist() == [-1]
    big = _mean_op(4096, 0.05, 0.01, -20, 7)
    x = np.random.default_rng(5).integers(-128, 128, size=(64, 64, 5)).astype(np.int8)
    assert_same(tdnn.mean(x, _mean_params(big)),
                get_op("MEAN").reference(big, [x[None]], (1, 5))[0])


def test_mean_rejects_bad_parameters(tdnn):
    x = np.zeros((2, 2, 1), np.int8)
    for params in (MeanParams(0, -1, 0, 0), MeanParams(0, 1 << 30, -32, 0),
                   MeanParams(0, 1 << 30, 31, 0)):
        with pytest.raises(TdnnError) as err:
            tdnn.mean(x, params)
        assert err.value.status == TD_ERR_ARG


@pytest.mark.parametrize("axis", [0, 1, 2, 3])
def test_concat_along_every_axis_matches_reference(tdnn, axis):
    rng = np.random.default_rng(20 + axis)
    for _ in range(50):
        n = int(rng.integers(1, 5))
        base = [1, *(int(v) for v in rng.integers(1, 6, size=3))]
        xs = []
        for _ in range(n):
            shape = list(base)
            shape[axis] = 1 if axis == 0 else int(rng.integers(1, 7))
            xs.append(rng.integers(-128, 128, size=shape).astype(np.int8))
        op = Concatenation("concat", "x0", [f"x{i}" for i in range(1, n)], "y", axis)
        want = get_op("CONCATENATION").reference(op, xs, None)
        assert_same(tdnn.concat(xs, axis), want)


def movement_cases(tdnn) -> list[tuple[str, str, str, np.ndarray]]:
    """QEMU cases (name, C declarations, kernel call, the host build's output, itself checked
    against the numpy reference above): odd shapes, channel tails, misaligned blocks, MEAN
    over more than 256 positions (the DSP lane sums are flushed) and at the int8 extremes."""
    from test_conv import c_int_arrays

    rng = np.random.default_rng(31)
    cases = []
    for i, (h, w, c, pads, value) in enumerate([
            (5, 7, 3, ((1, 2), (0, 3), (0, 0)), -128), (4, 4, 5, ((0, 1), (2, 0), (3, 1)), 9),
            (1, 1, 1, ((2, 2), (2, 2), (0, 0)), 0)]):
        x = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
        (t, b), (lft, r), (f, k) = pads
        body = (f"    static const td_pad_params p = {{{t}, {b}, {lft}, {r}, {f}, {k}, {value}}};\n"
                f"    static const td_dims d = {{1, {h}, {w}, {c}}};\n"
                f"    return td_pad_s8(&p, &d, pad{i}_x, out_buf);\n")
        cases.append((f"pad/{i}", c_int_arrays(f"pad{i}", x=x), body, tdnn.pad(x, pads, value)))
    for i, (h, w, c, fill) in enumerate([(7, 7, 12, None), (3, 5, 6, None), (20, 20, 9, None),
                                         (17, 16, 4, -128), (17, 16, 5, 127), (1, 1, 3, None)]):
        x = (rng.integers(-128, 128, size=(h, w, c)) if fill is None
             else np.full((h, w, c), fill)).astype(np.int8)
        op = _mean_op(h * w, float(np.float32(2.0 ** rng.uniform(-8, -3))),
                      float(np.float32(2.0 ** rng.uniform(-8, -3))),
                      int(rng.integers(-128, 128)), int(rng.integers(-128, 128)))
        want = tdnn.mean(x, _mean_params(op))
        assert_same(want, get_op("MEAN").reference(op, [x[None]], (1, c))[0])
        body = (f"    static const td_mean_params p = {{{-op.input_zero_point}, "
                f"{op.multiplier}, {op.shift}, {op.output_zero_point}}};\n"
                f"    static const td_dims d = {{1, {h}, {w}, {c}}};\n"
                f"    return td_mean_s8(&p, &d, mean{i}_x + 1, out_buf);\n")
        # the input one byte past an aligned array: the DSP word loads are unaligned
        decl = c_int_arrays(f"mean{i}", x=np.concatenate([[0], x.reshape(-1)]).astype(np.int8))
        cases.append((f"mean/{i}", decl, body, want))
    for i, chans in enumerate([(4, 6), (1, 3, 5), (64, 70), (7,)]):
        xs = [rng.integers(-128, 128, size=(3, 5, ch)).astype(np.int8) for ch in chans]
        decl = "".join(c_int_arrays(f"cat{i}_{j}", x=x) for j, x in enumerate(xs))
        ptrs = ", ".join(f"cat{i}_{j}_x" for j in range(len(xs)))
        body = (f"    static const int8_t *const in[] = {{{ptrs}}};\n"
                f"    static const int32_t blocks[] = {{{', '.join(map(str, chans))}}};\n"
                f"    return td_concat_s8(in, blocks, {len(xs)}, 15, out_buf);\n")
        cases.append((f"concat/{i}", decl, body, tdnn.concat(xs, 2)))
    return cases


@pytest.mark.firmware
@pytest.mark.parametrize("core", ["m4", "m55"])
def test_kernels_match_host_on_qemu(tdnn, tmp_path, core):
    from test_conv import run_on_qemu

    run_on_qemu(tmp_path, movement_cases(tdnn), core)
