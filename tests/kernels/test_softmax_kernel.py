"""td_softmax_s8 (int8 SOFTMAX over the last axis) is bit-exact with the numpy reference
(`tinydeploy.quant.softmax`, itself TFLite Micro's arithmetic) on thousands of random rows
and parameter sets and on the edge cases, and with TFLite Micro itself on converter-produced
SOFTMAX models. `softmax_cases` feeds the same kernel to the QEMU M4 / M55 firmware tests."""

from __future__ import annotations

import ctypes as C
import shutil
from pathlib import Path

import numpy as np
import pytest
from keras_int8 import full_int8_tflite
from tools_required import required_module, unavailable

from tinydeploy.quant.softmax import (
    SoftmaxParams,
    exp_on_negative_values,
    one_over_one_plus_x,
    softmax_int8,
    softmax_params,
)
from tinydeploy.tdnn.build import compile_host
from tinydeploy.tdnn.host import TdnnError
from tinydeploy.tdnn.structs import TD_ERR_ARG
from tinydeploy.tdnn.structs import SoftmaxParams as CSoftmaxParams

BETAS = [0.1, 0.5, 1.0, 2.0, 10.0]
PROBE = Path(__file__).with_name("c") / "softmax_fixedpoint_probe.c"
I32_MIN, I32_MAX = -(2**31), 2**31 - 1


def kernel(tdnn, x: np.ndarray, p: SoftmaxParams) -> np.ndarray:
    return tdnn.softmax(x, p.input_multiplier, p.input_left_shift, p.diff_min)


def random_rows(rng: np.random.Generator, rows: int, depth: int) -> np.ndarray:
    """Rows of one of several distributions: uniform int8, narrow around a random centre,
    one or a few peaks over a flat floor, only the two extremes."""
    kind = int(rng.integers(0, 4))
    if kind == 0:
        x = rng.integers(-128, 128, size=(rows, depth))
    elif kind == 1:
        centre = int(rng.integers(-100, 100))
        x = centre + rng.integers(-6, 7, size=(rows, depth))
    elif kind == 2:
        x = np.full((rows, depth), int(rng.integers(-128, 0)))
        peaks = rng.integers(0, depth, size=(rows, int(rng.integers(1, 4))))
        np.put_along_axis(x, peaks, rng.integers(0, 128, size=peaks.shape), axis=1)
    else:
        x = rng.choice([-128, 127], size=(rows, depth))
    return np.clip(x, -128, 127).astype(np.int8)


def test_random_rows_and_parameters_match_reference(tdnn, ref):
    """2,000 calls: depths 1..300, 1-4 rows, betas 0.1..10, input scales 2^-10..2."""
    rng = np.random.default_rng(16)
    below_diff_min = calls = 0
    for _ in range(2000):
        depth = int(rng.integers(1, 301))
        beta = float(rng.choice(BETAS))
        scale = float(np.float32(2.0 ** rng.uniform(-10, 1)))
        p = softmax_params(beta, scale)
        x = random_rows(rng, int(rng.integers(1, 5)), depth)
        ref.assert_same(kernel(tdnn, x, p), softmax_int8(x, p))
        below_diff_min += int((x.astype(np.int32) - x.max(-1, keepdims=True) < p.diff_min).sum())
        calls += 1
    assert calls == 2000 and below_diff_min > 1000  # the "exp is zero" branch ran often


@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("scale", [1 / 256, 0.02, 0.0625, 0.25, 1.0])
def test_every_difference_for_one_parameter_set(tdnn, ref, beta, scale):
    """Each row holds its maximum and one other value: the 256 rows cover every difference
    -255..0, so every exp the kernel can evaluate for these parameters is checked."""
    p = softmax_params(beta, scale)
    x = np.full((256, 2), 127, dtype=np.int8)
    x[:, 1] = np.arange(127, -129, -1)
    wide = np.tile(x, (1, 7))  # the same differences in rows of 14
    for arr in (x, wide):
        ref.assert_same(kernel(tdnn, arr, p), softmax_int8(arr, p))


@pytest.mark.parametrize("depth", [1, 2, 10, 255, 511, 512, 1000, 4095, 4096, 8000, 8192,
                                   8193])
@pytest.mark.parametrize("value", [-128, 0, 127])
def test_all_equal_rows(tdnn, ref, depth, value):
    """All entries at the maximum: the sum of exps is depth * 2^19. From 512 on it reaches
    2^28 (the output shift passes 31, where the quotient rounds to 0), from 4096 it wraps as
    TFLM's int32 sum does; 8192 wraps to exactly 0, 8193 to 2^19 (one entry's worth)."""
    p = softmax_params(1.0, 0.05)
    x = np.full((2, depth), value, dtype=np.int8)
    got = kernel(tdnn, x, p)
    ref.assert_same(got, softmax_int8(x, p))
    if depth <= 511:  # 256 / depth in 1/256 steps, rounded
        assert np.all(got.astype(np.int32) + 128 == min(round(256 / depth), 255))


def test_depth_one_is_certain(tdnn, ref):
    x = np.arange(-128, 128, dtype=np.int8).reshape(256, 1)
    for beta, scale in ((1.0, 0.05), (10.0, 1.0), (0.1, 1 / 1024)):
        got = kernel(tdnn, x, softmax_params(beta, scale))
        ref.assert_same(got, softmax_int8(x, softmax_params(beta, scale)))
        assert np.all(got == 127)  # probability 1 saturates at 255/256


def test_extremes_and_diff_min_boundary(tdnn, ref):
    """-128 next to 127, and entries exactly at diff_min and one below it."""
    p = softmax_params(1.0, 1.0)  # diff_min -31: most of the int8 range is below it
    assert p.diff_min > -255
    peak = 100
    x = np.full((4, 8), -128, dtype=np.int8)
    x[:, 0] = peak
    x[0, 1:] = peak + p.diff_min  # exactly at diff_min: take part
    x[1, 1:] = peak + p.diff_min - 1  # one below: -128 without an exp
    x[2, 1::2] = 127
    x[3, :] = [127, -128, 127, -128, 126, 0, 1, -1]
    got = kernel(tdnn, x, p)
    ref.assert_same(got, softmax_int8(x, p))
    assert np.all(got[1, 1:] == -128) and got[1, 0] == 127
    assert np.all(got[0, 1:] == -128)  # exp(-31) is below 1/512 too, but it was evaluated


@pytest.mark.parametrize(("mult", "shift", "diff_min"), [
    (0, 0, -255),  # every scaled difference 0: a uniform output
    (1 << 30, 0, -255),  # differences of -1 scale to 0 as well
    (2**31 - 1, 31, -255),  # differences shifted by 31 wrap, as TFLM's int32 multiply
    (2**31 - 1, 30, -1),
    (1 << 30, 5, 0),  # only the maximum takes part
])
def test_raw_parameter_edges(tdnn, ref, mult, shift, diff_min):
    rng = np.random.default_rng(shift)
    x = rng.integers(-128, 128, size=(20, 33)).astype(np.int8)
    p = SoftmaxParams(mult, shift, diff_min)
    ref.assert_same(kernel(tdnn, x, p), softmax_int8(x, p))


def test_in_place_and_rows_independent(tdnn, ref):
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, size=(6, 37)).astype(np.int8)
    p = softmax_params(1.0, 0.1)
    want = softmax_int8(x, p)
    buf = x.copy()
    params = CSoftmaxParams(p.input_multiplier, p.input_left_shift, p.diff_min)
    ptr = C.c_void_p(buf.ctypes.data)
    assert tdnn.lib.td_softmax_s8(C.byref(params), ptr, ptr, 6, 37) == 0
    ref.assert_same(buf, want)
    for r in range(6):  # a row alone gives the same as inside a batch
        ref.assert_same(kernel(tdnn, x[r : r + 1], p), want[r : r + 1])
    assert tdnn.lib.td_softmax_s8(C.byref(params), ptr, ptr, 0, 37) == 0  # no rows: no-op
    ref.assert_same(buf, want)


def test_bad_arguments_are_rejected(tdnn):
    lib = tdnn.lib
    x = np.zeros(8, dtype=np.int8)
    out = np.full(8, 7, dtype=np.int8)
    xp, op = C.c_void_p(x.ctypes.data), C.c_void_p(out.ctypes.data)
    good = CSoftmaxParams(1 << 30, 20, -100)
    assert lib.td_softmax_s8(C.byref(good), xp, op, 2, 4) == 0
    out[:] = 7
    bad = [
        (None, xp, op, 2, 4), (C.byref(good), None, op, 2, 4), (C.byref(good), xp, None, 2, 4),
        (C.byref(good), xp, op, -1, 4), (C.byref(good), xp, op, 2, 0),
        (C.byref(good), xp, op, 2, -3),
    ]  # fmt: skip
    for fields in ((-1, 20, -100), (1 << 30, -1, -100), (1 << 30, 32, -100), (1 << 30, 20, 1)):
        bad.append((C.byref(CSoftmaxParams(*fields)), xp, op, 2, 4))
    for args in bad:
        assert lib.td_softmax_s8(*args) == TD_ERR_ARG, args
    assert np.all(out == 7)  # nothing written
    with pytest.raises(TdnnError):
        tdnn.softmax(x.reshape(2, 4), 1 << 30, 40, -100)


# ---- TFLite Micro itself ---------------------------------------------------------------

def softmax_only_tflite(depth: int, calib_range: float) -> bytes:
    """A converter-produced full-int8 model that is one SOFTMAX of `depth` logits; the
    calibration range sets the input scale (and so the input multiplier and diff_min)."""
    tf = required_module("tensorflow")
    inp = tf.keras.Input((depth,), batch_size=1)
    model = tf.keras.Model(inp, tf.keras.layers.Softmax()(inp))
    rng = np.random.default_rng(depth)

    return full_int8_tflite(model, lambda: (
        rng.uniform(-calib_range, calib_range, size=(1, depth)).astype(np.float32)
        for _ in range(8)))


# TFLM's reference asserts (and the test process would abort) when a row's sum of exps
# reaches 2^28, i.e. 512 or more entries near the maximum: all depths here stay below 512
@pytest.mark.parametrize(("depth", "calib_range"), [(1, 4.0), (10, 1.0), (10, 40.0),
                                                    (37, 8.0), (300, 3.0), (511, 200.0)])
def test_kernel_matches_tflite_micro(tdnn, ref, depth, calib_range):
    from tinydeploy.export.runtimes import run_tflm
    from tinydeploy.ir import read_tflite

    required_module("tflite_micro")
    flat = softmax_only_tflite(depth, calib_range)
    g = read_tflite(flat)
    assert [op.kind for op in g.ops] == ["SOFTMAX"]
    sm = g.ops[0]
    p = SoftmaxParams(sm.input_multiplier, sm.input_left_shift, sm.diff_min)
    rng = np.random.default_rng(depth)
    x = np.concatenate([random_rows(rng, 8, depth) for _ in range(8)])
    x[0] = 0  # all equal
    x[1] = -128
    x[1, depth // 2] = 127  # one certain class
    want = run_tflm(flat, x).reshape(x.shape)
    ref.assert_same(kernel(tdnn, x, p), want)
    ref.assert_same(softmax_int8(x, p), want)
    assert depth == 1 or np.unique(want).size > 10  # real distributions, not one value


def softmax_cases(tdnn, start: int, c_array) -> list[tuple[str, str, str, np.ndarray]]:
    """Kernel cases for the QEMU firmware (name, C declarations, body, expected output): the
    host build's outputs, checked against the numpy reference here first."""
    rng = np.random.default_rng(116)
    shapes = [(1, 1), (1, 10), (3, 12), (2, 37), (1, 300), (1, 1000), (4, 255), (1, 600),
              (256, 2), (256, 2)]
    cases = []
    for i, (rows, depth) in enumerate(shapes):
        beta, scale = BETAS[i % len(BETAS)], float(np.float32(2.0 ** rng.uniform(-8, 0)))
        p = softmax_params(beta, scale)
        x = random_rows(rng, rows, depth)
        if depth == 600:
            x[:] = 5  # sum of exps >= 2^28: the exactly rounded path
        if rows == 256:  # every difference -255..0 (as test_every_difference_...)
            x[:, 0], x[:, 1] = 127, np.arange(127, -129, -1)
        expected = kernel(tdnn, x, p)
        assert np.array_equal(expected, softmax_int8(x, p))
        idx = start + i
        body = (f"    static const td_softmax_params sp = {{{p.input_multiplier}, "
                f"{p.input_left_shift}, {p.diff_min}}};\n"
                f"    return td_softmax_s8(&sp, sm{idx}_x, out_buf, {rows}, {depth});\n")
        cases.append((f"softmax/{i}/{rows}x{depth}", c_array("int8_t", f"sm{idx}_x", x), body,
                      expected))
    return cases


def test_exp_inner_ranges_allow_the_fast_forms():
    """The ranges td_fixedpoint.h's exp rests on, over every input the polynomial can get
    (a in [-2^29, 0): the 2^24 remainders in [-1/4, 0) shifted to Q0.31), computed with the
    numpy reference: x = a + 1/8 and x plus the polynomial stay within +-2^29 (one doubled
    operand per product fits an int32: SMMULR), x^2 and x^4 and the value halved for the
    polynomial are >= 0 (their roundings are (v + 2^(e-1)) >> e), no add wraps, and the result
    is positive (the barrel's unsigned products; the kernel's Q12.19 rescale)."""
    from tinydeploy.quant.fixedpoint import saturating_rounding_doubling_high_mul as srdhm
    from tinydeploy.quant.softmax import _exp_on_quarter_interval, _saturating_shift_left
    from tinydeploy.quant.softmax import rounding_divide_by_pot as rdbp

    names = ("x", "x2", "x3", "x4", "t", "v", "s", "result")
    lo = dict.fromkeys(names, 2**40)
    hi = dict.fromkeys(names, -(2**40))
    for start in range(-(2**24), 0, 2**21):  # in chunks: 2^24 int64 temporaries are 128 MB each
        a = _saturating_shift_left(np.arange(start, start + 2**21, dtype=np.int64), 5)
        x = a + (1 << 28)
        x2 = srdhm(x, x)
        x3, x4 = srdhm(x2, x), srdhm(x2, x2)
        t = rdbp(x4, 2) + x3
        v = srdhm(t, 715827883) + x2
        s = x + rdbp(v, 1)
        vals = dict(x=x, x2=x2, x3=x3, x4=x4, t=t, v=v, s=s, result=_exp_on_quarter_interval(a))
        for k, arr in vals.items():
            lo[k], hi[k] = min(lo[k], int(arr.min())), max(hi[k], int(arr.max()))
    assert lo["x"] >= -(2**28) and hi["x"] < 2**28
    assert lo["x2"] == 0 and hi["x2"] <= 2**25 and lo["x4"] == 0 and hi["x4"] <= 2**19
    assert max(-lo["x3"], hi["x3"], -lo["t"], hi["t"]) < 2**23
    assert lo["v"] >= 0 and hi["v"] < 2**26
    assert lo["s"] > -(2**29) and hi["s"] < 2**29
    assert (lo["result"], hi["result"]) == (1672462419, 2147483124)


# ---- the fixed-point functions themselves (exp, 1 / (1 + x)), bit for bit ----------------

@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    """tests/kernels/c/softmax_fixedpoint_probe.c built as a host shared library."""
    if shutil.which("gcc") is None:
        unavailable("gcc (host C compiler) is not installed")
    out = tmp_path_factory.mktemp("fixedpoint") / "probe.so"
    lib = C.CDLL(str(compile_host([PROBE], out, shared=True, what="the fixed-point probe")))
    for name in ("probe_exp_checksum", "probe_recip_checksum"):
        getattr(lib, name).restype = C.c_uint32
    return lib


def _block(probe, name: str, a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.int32)
    out = np.zeros_like(a)
    getattr(probe, name)(C.c_void_p(a.ctypes.data), a.size, C.c_void_p(out.ctypes.data))
    return out.astype(np.int64)


def grid(start: int, step: int, n: int) -> np.ndarray:
    """start + i * step for i < n, wrapped to int32 (as the probe's checksums walk)."""
    return (start + step * np.arange(n, dtype=np.int64) + 2**31) % 2**32 - 2**31


def checksum(values: np.ndarray) -> int:
    """The probe's checksum: sum of values[i] * (2i + 1) mod 2^32."""
    mask = np.uint64(0xFFFFFFFF)  # numpy scalars: a Python int would promote to float64
    v = values.astype(np.int64).astype(np.uint64) & mask
    weights = np.uint64(2) * np.arange(v.size, dtype=np.uint64) + np.uint64(1)
    return int((v * weights).sum(dtype=np.uint64) & mask)  # uint64 wraps mod 2^64


EDGES_EXP = np.array([0, -1, -2, I32_MIN, I32_MIN + 1, -(2**24), -(2**24) - 1, -(2**26),
                      -(2**30), 1, 2**24, I32_MAX], dtype=np.int64)  # fmt: skip
EDGES_RECIP = np.array([0, 1, 2**30, I32_MAX, -1, I32_MIN, 12345678], dtype=np.int64)
# the walks the QEMU firmware checks (start, step, count): exp over the whole negative range,
# exp on the polynomial's own range [-2^24, 0) (no barrel bit), 1 / (1 + x) over all int32
EXP_WALKS = [(0, -2047, 2**20), (-1, -13, 2**20)]
RECIP_WALKS = [(I32_MIN, 4099, 2**20)]


def test_exp_bit_exact_over_every_remainder_and_the_range(probe):
    """td_exp_on_negative_values_q5 == the reference on every input whose exp is the
    polynomial alone ([-2^24, 0]: the SMMULR forms' whole domain), on 2^21 inputs across
    [-2^31, 0] (every barrel combination), and on edges, positive inputs included."""
    for start in range(-(2**24), 1, 2**21):
        a = np.arange(start, min(start + 2**21, 1), dtype=np.int64)
        assert np.array_equal(_block(probe, "probe_exp_block", a), exp_on_negative_values(a))
    for a in (grid(0, -1021, 2**21), EDGES_EXP):
        assert np.array_equal(_block(probe, "probe_exp_block", a), exp_on_negative_values(a))


def test_one_over_one_plus_x_bit_exact(probe):
    for a in (grid(I32_MIN, 2039, 2**21), grid(0, 1, 2**16), EDGES_RECIP):
        assert np.array_equal(_block(probe, "probe_recip_block", a), one_over_one_plus_x(a))


def test_probe_checksums_equal_the_reference(probe):
    for start, step, n in EXP_WALKS:
        assert probe.probe_exp_checksum(start, step, n) == checksum(
            exp_on_negative_values(grid(start, step, n)))
    for start, step, n in RECIP_WALKS:
        assert probe.probe_recip_checksum(start, step, n) == checksum(
            one_over_one_plus_x(grid(start, step, n)))
    wrong = exp_on_negative_values(grid(*EXP_WALKS[0]))
    wrong[12345] += 1  # one low bit off changes the checksum
    assert checksum(wrong) != probe.probe_exp_checksum(*EXP_WALKS[0])


def fixedpoint_probe_cases() -> list[tuple[str, str, str, np.ndarray]]:
    """Firmware cases (as softmax_cases) running the probe's checksums on the target; the
    expected bytes are the numpy reference's checksums."""
    cases = []
    walks = [("exp", w) for w in EXP_WALKS] + [("recip", w) for w in RECIP_WALKS]
    for i, (fn, (start, step, n)) in enumerate(walks):
        ref_fn = exp_on_negative_values if fn == "exp" else one_over_one_plus_x
        want = np.array([checksum(ref_fn(grid(start, step, n)))], dtype=np.uint32)
        decls = f'#include "{PROBE}"\n' if i == 0 else ""
        body = (f"    const uint32_t h = probe_{fn}_checksum({start}, {step}, {n});\n"
                "    memcpy(out_buf, &h, 4);\n    return TD_OK;\n")
        cases.append((f"fixedpoint/{fn}/{i}", decls, body, want.view(np.int8)))
    return cases
