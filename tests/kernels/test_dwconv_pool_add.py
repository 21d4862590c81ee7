"""Depthwise conv, max/avg pooling and int8 ADD against TFLM-style numpy references."""

from __future__ import annotations

import numpy as np
import pytest

from tinydeploy.quant.fixedpoint import quantize_multiplier
from tinydeploy.tdnn.structs import Activation, AddParams


@pytest.mark.parametrize(
    "h,w,c,k,stride,pad,dmul",
    [
        (8, 8, 4, 3, (1, 1), (1, 1, 1, 1), 1),
        (9, 7, 3, 3, (2, 2), (0, 0, 1, 1), 2),
        (6, 6, 5, 5, (1, 1), (2, 2, 2, 2), 1),
        (5, 4, 2, 1, (1, 2), (0, 0, 0, 0), 3),
    ],
)
def test_dwconv(tdnn, ref, h, w, c, k, stride, pad, dmul):
    rng = np.random.default_rng(h * w + c)
    x = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
    wt = rng.integers(-128, 128, size=(k, k, c * dmul)).astype(np.int8)
    bias = rng.integers(-3000, 3000, size=c * dmul).astype(np.int32)
    mult, shift = ref.random_quant(rng, c * dmul, (-11, -6))
    mult[0], shift[-1] = 0, -31
    got = tdnn.dwconv(x, wt, bias, mult, shift, stride, pad, dmul, 17, -4, (-4, 127))
    want = ref.dwconv(x, wt, bias, mult, shift, stride, pad, dmul, 17, -4, (-4, 127))
    ref.assert_same(got, want)


POOL_CASES = [
    # (h, w, c, filter, stride, pad(top,left), out_hw)
    (8, 8, 3, (2, 2), (2, 2), (0, 0), (4, 4)),
    (7, 9, 2, (2, 2), (2, 2), (0, 0), (3, 4)),  # odd sizes, VALID floor
    (7, 7, 4, (3, 3), (2, 2), (1, 1), (4, 4)),  # SAME with padding excluded from the window
    (5, 6, 1, (3, 2), (1, 2), (1, 0), (5, 3)),
]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("act", [(-128, 127), (-5, 100)])
def test_pool(tdnn, ref, kind, case, act):
    h, w, c, filt, stride, pad, out_hw = case
    rng = np.random.default_rng(h * 31 + w)
    x = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
    fn = ref.maxpool if kind == "max" else ref.avgpool
    ref.assert_same(tdnn.pool(kind, x, filt, stride, pad, out_hw, act),
                    fn(x, filt, stride, pad, out_hw, act))  # fmt: skip


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize(("pad", "out_hw"), [((2, 0), (2, 2)), ((0, 2), (2, 2)),
                                             ((0, 0), (3, 2))])
def test_pool_window_all_padding_is_an_argument_error(tdnn, kind, pad, out_hw):
    """A window with no input cell (above/left of the input, or past its end) fails with
    TD_ERR_ARG, whichever output position it is at."""
    from tinydeploy.tdnn.host import TdnnError

    x = np.ones((4, 4, 3), dtype=np.int8)
    with pytest.raises(TdnnError) as err:
        tdnn.pool(kind, x, (2, 2), (2, 2), pad, out_hw)
    assert err.value.status == -1  # TD_ERR_ARG


def test_avgpool_rounding_ties(tdnn, ref):
    """Sums exactly halfway between integers round away from zero, for both signs."""
    x = np.array([[[1], [2]], [[-1], [-2]], [[-3], [0]], [[3], [0]]], dtype=np.int8)
    got = tdnn.pool("avg", x, (1, 2), (1, 2), (0, 0), (4, 1))
    ref.assert_same(got, ref.avgpool(x, (1, 2), (1, 2), (0, 0), (4, 1)))
    assert got.reshape(-1).tolist() == [2, -2, -2, 2]


def tflm_add_params(s1, z1, s2, z2, so, zo, act=(-128, 127)):
    """Parameters exactly as TFLM's add.cc prepares them for int8."""
    left_shift = 20
    twice_max = 2 * max(s1, s2)
    m1, sh1 = quantize_multiplier(s1 / twice_max)
    m2, sh2 = quantize_multiplier(s2 / twice_max)
    mo, sho = quantize_multiplier(twice_max / ((1 << left_shift) * so))
    return {
        "input1_offset": -z1, "input1_multiplier": m1, "input1_shift": sh1,
        "input2_offset": -z2, "input2_multiplier": m2, "input2_shift": sh2,
        "left_shift": left_shift, "output_offset": zo, "output_multiplier": mo,
        "output_shift": sho, "act": act,
    }  # fmt: skip


@pytest.mark.parametrize(
    "s1,z1,s2,z2,so,zo,act",
    [
        (0.05, 3, 0.02, -7, 0.06, 1, (-128, 127)),
        (0.1, -128, 0.1, -128, 0.2, -128, (-128, 127)),
        (0.5, 10, 0.001, 0, 0.01, 5, (5, 127)),  # saturates at both ends
        (0.0039, -128, 0.0078, 0, 0.0117, -20, (-128, 127)),
    ],
)
def test_add(tdnn, ref, s1, z1, s2, z2, so, zo, act):
    rng = np.random.default_rng(1)
    x1 = rng.integers(-128, 128, size=(5, 7, 3)).astype(np.int8)
    x2 = rng.integers(-128, 128, size=(5, 7, 3)).astype(np.int8)
    p = tflm_add_params(s1, z1, s2, z2, so, zo, act)
    fields = {k: v for k, v in p.items() if k != "act"}
    params = AddParams(**fields, activation=Activation(*act))
    ref.assert_same(tdnn.add(x1, x2, params), ref.add(x1, x2, p))


# The depthwise layers of the MLPerf Tiny models (DS-CNN, MobileNetV1-0.25 96x96) as the
# TFLite converter writes them: (h, w, c, k, stride, pad (t, l, b, r), dmul, quant edge)
MLPERF_DW_SHAPES = [
    (25, 5, 64, 3, (1, 1), (1, 1, 1, 1), 1, None),
    (48, 48, 8, 3, (1, 1), (1, 1, 1, 1), 1, None),
    (48, 48, 16, 3, (2, 2), (0, 0, 1, 1), 1, None),
    (24, 24, 32, 3, (1, 1), (1, 1, 1, 1), 1, None),
    (24, 24, 32, 3, (2, 2), (0, 0, 1, 1), 1, None),
    (12, 12, 64, 3, (1, 1), (1, 1, 1, 1), 1, None),
    (12, 12, 64, 3, (2, 2), (0, 0, 1, 1), 1, None),
    (6, 6, 128, 3, (1, 1), (1, 1, 1, 1), 1, None),
    (6, 6, 128, 3, (2, 2), (0, 0, 1, 1), 1, None),
    (3, 3, 256, 3, (1, 1), (1, 1, 1, 1), 1, None),
]


@pytest.mark.parametrize("seed", range(12))
def test_dwconv_random_shapes(tdnn, ref, seed):
    """Random 3x3 depthwise shapes (channel counts not multiples of 4, strides 1 / 2, SAME and
    VALID padding, tiny maps, activation clamps): host build against the numpy reference."""
    rng = np.random.default_rng(100 + seed)
    h, w = (int(v) for v in rng.integers(1, 20, size=2))
    c = int(rng.integers(1, 23))
    stride = tuple(int(v) for v in rng.integers(1, 3, size=2))
    if seed % 2:  # SAME as the converter writes it
        pad = tuple(max((-(-n // s) - 1) * s + 3 - n, 0) for n, s in ((h, stride[0]),
                                                                    (w, stride[1])))
        pad = (pad[0] // 2, pad[1] // 2, pad[0] - pad[0] // 2, pad[1] - pad[1] // 2)
    else:
        pad = (0, 0, 0, 0)
        h, w = h + 2, w + 2
    x = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
    wt = rng.integers(-128, 128, size=(3, 3, c)).astype(np.int8)
    bias = rng.integers(-20000, 20000, size=c).astype(np.int32)
    mult, shift = ref.random_quant(rng, c, (-13, -5))
    in_off, out_off = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
    act = [(-128, 127), (max(out_off, -128), 127), (-100, 50)][seed % 3]
    got = tdnn.dwconv(x, wt, bias, mult, shift, stride, pad, 1, in_off, out_off, act)
    want = ref.dwconv(x, wt, bias, mult, shift, stride, pad, 1, in_off, out_off, act)
    ref.assert_same(got, want)


@pytest.mark.parametrize("shape", MLPERF_DW_SHAPES, ids=lambda s: "x".join(map(str, s[:3])))
def test_dwconv_mlperf_shapes(tdnn, ref, shape):
    h, w, c, k, stride, pad, dmul, _ = shape
    rng = np.random.default_rng(h * w * c)
    x = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
    wt = rng.integers(-128, 128, size=(k, k, c)).astype(np.int8)
    bias = rng.integers(-600000, 600000, size=c).astype(np.int32)
    mult, shift = ref.random_quant(rng, c, (-12, -6))
    got = tdnn.dwconv(x, wt, bias, mult, shift, stride, pad, dmul, 128, -128, (-128, 127))
    ref.assert_same(got, ref.dwconv(x, wt, bias, mult, shift, stride, pad, dmul, 128, -128,
                                    (-128, 127)))  # fmt: skip


@pytest.mark.firmware
def test_dwconv_dsp_matches_host_on_qemu_m4(tdnn, ref, tmp_path):
    """The Cortex-M4 DSP depthwise variants (3x3, depth multiplier 1, groups of 4 channels,
    the rest portable: td_dwconv_dense_s8_3x3_band, and td_dwconv_dense_s8_3x3_dsp where the
    band variant declines) against the host build and the numpy reference: odd and even
    channel counts, strides 1 and 2, padding 0 / 1 / asymmetric, random offsets and
    quantisation, activation clamps, quantisation outside the fast requantisation, passes
    along rows and down columns, several pass segments, and the MLPerf Tiny shapes."""
    from test_conv import c_int_arrays, run_on_qemu

    lim = (1 << 30) - (1 << 19) - 1
    shapes = [  # (h, w, c, k, stride, pad (t, l, b, r), dmul, quant edge)
        (16, 16, 32, 3, (1, 1), (1, 1, 1, 1), 1, None),
        (15, 15, 20, 3, (2, 2), (1, 1, 1, 1), 1, None),
        (7, 9, 1, 3, (1, 1), (1, 1, 1, 1), 1, None),
        (6, 5, 3, 3, (2, 2), (0, 0, 0, 0), 1, None),
        (5, 6, 4, 3, (1, 1), (0, 0, 0, 0), 1, None),
        (8, 7, 5, 3, (1, 2), (1, 0, 1, 1), 1, None),
        (9, 10, 8, 3, (2, 1), (0, 1, 1, 0), 1, None),
        (6, 7, 17, 3, (1, 1), (1, 1, 1, 1), 1, None),
        (10, 9, 17, 3, (2, 2), (1, 1, 0, 0), 1, None),
        (3, 3, 8, 3, (1, 1), (0, 0, 0, 0), 1, None),
        (2, 3, 4, 3, (1, 1), (1, 1, 1, 1), 1, None),
        (4, 1, 12, 3, (2, 2), (1, 1, 1, 1), 1, None),
        (4, 60, 4, 3, (1, 1), (1, 1, 1, 1), 1, None),  # wider than the band: gathered windows
        (5, 103, 8, 3, (2, 2), (1, 1, 1, 1), 1, None),
        (5, 40, 9, 3, (1, 1), (0, 1, 1, 1), 1, None),
        (8, 8, 12, 3, (1, 1), (1, 1, 1, 1), 1, "edges"),
        (8, 8, 8, 3, (2, 2), (1, 1, 1, 1), 1, "shift0"),
        (7, 7, 8, 3, (1, 1), (1, 1, 1, 1), 1, "bigbias"),
        (40, 6, 8, 3, (1, 1), (1, 1, 1, 1), 1, None),  # taller than wide: passes down columns
        (35, 7, 12, 3, (2, 2), (0, 0, 1, 1), 1, None),  # columns, 2 segments at stride 2
        (7, 70, 4, 3, (1, 1), (1, 1, 1, 1), 1, None),  # 3 segments at stride 1
        (4, 49, 4, 3, (1, 1), (1, 1, 1, 1), 1, None),  # a last segment of 1 output (no pair)
        (5, 50, 8, 3, (2, 2), (0, 0, 1, 1), 1, None),  # the same at stride 2
        (3, 30, 12, 3, (2, 2), (0, 0, 1, 1), 1, None),  # stride 2, lines without padding columns
        (9, 40, 6, 3, (1, 2), (1, 0, 1, 1), 1, None),
        (12, 5, 20, 3, (2, 1), (1, 1, 1, 1), 1, None),
        (4, 4, 8, 3, (1, 1), (0, 0, 0, 0), 1, None),  # 2x2 outputs, VALID
        (5, 9, 8, 3, (2, 2), (2, 2, 2, 2), 1, None),  # padding wider than a tap
        (6, 7, 4, 3, (1, 1), (2, 0, 0, 3), 1, None),
        *MLPERF_DW_SHAPES,
        # small maps (td_dwconv_dense_s8_3x3_dsp's valid-taps path); "relu": output offset
        # -128 with the full int8 range (the body without sign correction and clamp)
        (3, 3, 256, 3, (1, 1), (1, 1, 1, 1), 1, "relu"),
        (6, 6, 128, 3, (2, 2), (0, 0, 1, 1), 1, "relu"),
        (12, 12, 64, 3, (2, 2), (0, 0, 1, 1), 1, "relu"),
        (12, 12, 66, 3, (2, 2), (0, 0, 1, 1), 1, None),  # 2 channels on the portable loop
        (6, 6, 130, 3, (2, 2), (1, 1, 1, 1), 1, None),
        (3, 3, 10, 3, (1, 1), (1, 1, 1, 1), 1, None),
        (4, 4, 12, 3, (2, 2), (1, 1, 1, 1), 1, None),
        (2, 2, 8, 3, (1, 1), (1, 1, 1, 1), 1, None),  # every window missing a row and a column
        (5, 5, 8, 3, (2, 2), (1, 1, 1, 1), 1, "relu"),
        (3, 4, 16, 3, (1, 2), (1, 0, 1, 1), 1, None),
        (7, 6, 4, 3, (1, 1), (1, 1, 1, 1), 2, None),
        (7, 7, 8, 5, (1, 1), (2, 2, 2, 2), 1, None),
        (6, 6, 6, 1, (1, 1), (0, 0, 0, 0), 1, None),
        # small maps: stride 1 widens each group's input once into a buffer, other strides
        # read the input; odd / non-multiple-of-4 channel counts, 1x1 .. 8x8 outputs, the
        # ReLU6 body, input offsets at both ends, a later group outside the fast
        # requantisation (it and the rest fall back), strides 3 and (1, 2)
        (6, 6, 20, 3, (1, 1), (1, 1, 1, 1), 1, "relu"),
        (6, 6, 13, 3, (1, 1), (1, 1, 1, 1), 1, None),
        (3, 3, 12, 3, (1, 1), (1, 1, 1, 1), 1, "relu"),
        (4, 4, 6, 3, (1, 1), (1, 1, 1, 1), 1, "relu"),
        (8, 8, 9, 3, (1, 1), (1, 1, 1, 1), 1, "inoff_max"),
        (8, 8, 8, 3, (1, 1), (1, 1, 1, 1), 1, "inoff_min"),
        (12, 12, 21, 3, (2, 2), (0, 0, 1, 1), 1, "inoff_max"),
        (6, 6, 12, 3, (2, 2), (0, 0, 1, 1), 1, "inoff_min"),
        (2, 2, 8, 3, (2, 2), (0, 0, 1, 1), 1, "relu"),  # 1x1 output
        (8, 8, 8, 3, (2, 2), (0, 0, 1, 1), 1, None),  # 4x4
        (16, 16, 8, 3, (2, 2), (0, 0, 1, 1), 1, "relu"),  # 8x8
        (16, 16, 7, 3, (2, 2), (1, 1, 0, 0), 1, None),
        (6, 6, 16, 3, (1, 1), (1, 1, 1, 1), 1, "late"),
        (6, 6, 16, 3, (2, 2), (0, 0, 1, 1), 1, "late"),
        (6, 6, 12, 3, (1, 1), (1, 1, 1, 1), 1, "bias29"),
        (7, 7, 8, 3, (3, 3), (1, 1, 1, 1), 1, None),
        (5, 6, 10, 3, (1, 2), (1, 1, 1, 1), 1, "relu"),
    ]
    rng = np.random.default_rng(16)
    cases = []
    for i, (h, w, c, k, stride, pad, dmul, edge) in enumerate(shapes):
        oc = c * dmul
        x = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
        wt = rng.integers(-128, 128, size=(k, k, oc)).astype(np.int8)
        bias = rng.integers(-20000, 20000, size=oc).astype(np.int32)
        mult, shift = ref.random_quant(rng, oc, (-13, -5))
        in_off = int(rng.integers(-127, 129))
        out_off = int(rng.integers(-128, 128))
        act = [(-128, 127), (out_off, 127), (-100, 50)][i % 3]
        if i % 3 == 1 and out_off > 100:
            act = (-128, 127)
        if edge == "edges":  # fast-path limits: e = 1 and 22, |bias| at the bound, mult 0
            shift[:6] = [-1, -22, -1, -22, -7, -9]
            mult[:6] = [2**31 - 1, 2**31 - 1, 1 << 30, 0, 2**31 - 1, 1 << 30]
            bias[6:12] = [lim, -lim, lim, -lim, 0, 1]
        elif edge == "shift0":  # a group with shift 0 / a left shift / e = 23 / mult < 0
            shift[1], shift[4], shift[7] = 0, 2, -23
            mult[3] = -(1 << 30)
        elif edge == "relu":
            out_off, act = -128, (-128, 127)
        elif edge == "bigbias":  # |bias| beyond the doubled-accumulator bound
            bias[0], bias[5] = lim + 1, -(lim + 1)
        elif edge in ("inoff_max", "inoff_min"):  # input offset extremes, ReLU6 body
            in_off = 128 if edge == "inoff_max" else -127
            out_off, act = -128, (-128, 127)
        elif edge == "late":  # groups 0, 1 fast, group 2 (channels 8..11) not
            shift[9] = 0
        elif edge == "bias29":  # |bias| = 2^29: beyond the small-map path's check only
            bias[5], bias[10] = 1 << 29, -(1 << 29)
        expected = tdnn.dwconv(x, wt, bias, mult, shift, stride, pad, dmul, in_off, out_off, act)
        want = ref.dwconv(x, wt, bias, mult, shift, stride, pad, dmul, in_off, out_off, act)
        ref.assert_same(expected, want)
        ho, wo = expected.shape[:2]
        p = f"dw{i}"
        decls = c_int_arrays(p, x=x, w=wt, b=bias, m=mult, s=shift)
        body = (
            f"    static const td_quant_params q = {{{p}_m, {p}_s}};\n"
            f"    static const td_dwconv_params dp = {{{stride[0]}, {stride[1]}, {pad[0]}, "
            f"{pad[1]}, {pad[2]}, {pad[3]}, {dmul}, {in_off}, {out_off}, "
            f"{{{act[0]}, {act[1]}}}}};\n"
            f"    static const td_dims id = {{1, {h}, {w}, {c}}}, fd = {{1, {k}, {k}, {oc}}};\n"
            f"    static const td_dims od = {{1, {ho}, {wo}, {oc}}};\n"
            f"    return td_dwconv_dense_s8(&dp, &q, &id, {p}_x, &fd, {p}_w, {p}_b, &od, "
            "out_buf);\n"
        )
        cases.append((f"dw_{i}", decls, body, expected))
    run_on_qemu(tmp_path, cases)


def random_add_params(rng: np.random.Generator, i: int) -> dict:
    """TFLM-prepared ADD parameters from random scales and zero points; the activation
    range cycles through the full int8 range, ReLU (zero point .. 127) and a narrow one."""
    s1, s2 = (float(np.float32(v)) for v in 10.0 ** rng.uniform(-3.5, 0.5, size=2))
    so = float(np.float32(max(s1, s2) * 10.0 ** rng.uniform(-0.8, 1.2)))
    z1, z2, zo = (int(v) for v in rng.integers(-128, 128, size=3))
    act = [(-128, 127), (zo, 127), (min(zo, 20), max(zo, 20) + 30)][i % 3]
    act = (max(act[0], -128), min(act[1], 127))
    return tflm_add_params(s1, z1, s2, z2, so, zo, act)


def all_pairs() -> tuple[np.ndarray, np.ndarray]:
    """Every (x1, x2) int8 pair once: 65,536 elements."""
    v = np.arange(-128, 128, dtype=np.int8)
    return np.repeat(v, 256), np.tile(v, 256)


def add_struct(p: dict, tables: tuple[np.ndarray, np.ndarray] | None = None,
               ties: int = 0) -> AddParams:
    fields = {k: v for k, v in p.items() if k != "act"}
    params = AddParams(**fields, activation=Activation(*p["act"]), table_ties=ties)
    if tables is not None:
        params.input1_table = tables[0].ctypes.data
        params.input2_table = tables[1].ctypes.data
        params.keep_alive = tables  # the struct holds raw pointers into these arrays
    return params


def add_op(p: dict):
    from tinydeploy.ir.ops.add import Add

    fields = {k: v for k, v in p.items() if k != "act"}
    return Add(name="add1", input="a", input2="b", output="y", **fields, act_min=p["act"][0],
               act_max=p["act"][1])


@pytest.mark.parametrize("seed", range(9))
def test_add_tables_all_pairs(tdnn, ref, seed):
    """With the input tables (td_add_s8_lut) every one of the 65,536 input pairs gives TFLM's
    result, for random scales, zero points and activation ranges; the tables the generator
    emits equal td_add_s8_fill_tables'."""
    from tinydeploy.ir.ops.add import input_tables, table_ties

    p = random_add_params(np.random.default_rng(100 + seed), seed)
    tables = tdnn.add_tables(add_struct(p))
    emitted = input_tables(add_op(p))
    assert emitted is not None
    np.testing.assert_array_equal(tables[0], emitted[0])
    np.testing.assert_array_equal(tables[1], emitted[1])
    x1, x2 = all_pairs()
    want = ref.add(x1, x2, p)
    ref.assert_same(tdnn.add(x1, x2, add_struct(p, tables)), want)
    ref.assert_same(tdnn.add(x1, x2, add_struct(p)), want)
    ties = table_ties(add_op(p), tables)  # the generator's choice: exact on every pair
    ref.assert_same(tdnn.add(x1, x2, add_struct(p, tables, ties)), want)


def test_add_table_ties_are_checked(tdnn, ref):
    """Rounding every tie one way is exact only when no pair hits the other kind of tie: where
    ties of both signs occur the generator keeps TFLM's sign test (the other
    roundings really differ); over random TFLM parameter sets it mostly drops it, and
    every choice it makes is exact on all pairs."""
    from tinydeploy.ir.ops.add import TIES_DOWN, TIES_EXACT, TIES_UP, table_ties

    x1, x2 = all_pairs()
    # scales 0.1, 0.05 -> 0.1: the sum is (2 x1 + x2) * 2^18, halfway whenever x2 is odd
    p = tflm_add_params(0.1, 0, 0.05, 0, 0.1, 0, (-128, 127))
    assert (p["output_multiplier"], p["output_shift"]) == (1 << 30, -18)
    tables = tdnn.add_tables(add_struct(p))
    assert table_ties(add_op(p), tables) == TIES_EXACT
    want = ref.add(x1, x2, p)
    for ties in (TIES_UP, TIES_DOWN):
        assert (tdnn.add(x1, x2, add_struct(p, tables, ties)) != want).any()
    chosen = []
    for seed in range(12):
        p = random_add_params(np.random.default_rng(300 + seed), seed)
        tables = tdnn.add_tables(add_struct(p))
        ties = table_ties(add_op(p), tables)
        ref.assert_same(tdnn.add(x1, x2, add_struct(p, tables, ties)), ref.add(x1, x2, p))
        chosen.append(ties)
    assert chosen.count(TIES_EXACT) <= 3, chosen


@pytest.mark.parametrize("out_shift", [0, -1, -22, -23, -31])  # 0: tables unused
def test_add_tables_shift_edges(tdnn, ref, out_shift):
    """Output shifts at the edges of the folded offset (e <= 22), the widest one, and 0."""
    p = tflm_add_params(0.05, 3, 0.02, -7, 0.06, -5, (-128, 127))
    p["output_shift"], p["output_multiplier"] = out_shift, 2**31 - 1
    x1, x2 = all_pairs()
    for mult in (2**31 - 1, 1 << 30, 0):
        p["output_multiplier"] = mult
        got = tdnn.add(x1, x2, add_struct(p, tdnn.add_tables(add_struct(p))))
        ref.assert_same(got, ref.add(x1, x2, p))


def test_add_tables_argument_errors(tdnn):
    from tinydeploy.tdnn.host import TdnnError

    p = tflm_add_params(0.05, 3, 0.02, -7, 0.06, 1)
    one = add_struct(p, tdnn.add_tables(add_struct(p)))
    one.input2_table = None  # one table without the other
    x = np.zeros(4, dtype=np.int8)
    with pytest.raises(TdnnError):
        tdnn.add(x, x, one)
    p["left_shift"] = 21  # the tables' bound needs left_shift <= 20
    with pytest.raises(TdnnError):
        tdnn.add_tables(add_struct(p))


@pytest.mark.firmware
@pytest.mark.parametrize("core", ["m4", "m55"])
def test_add_all_pairs_on_qemu(tdnn, ref, tmp_path, core):
    """All 65,536 pairs on the target (M4: the DSP asm with the full int8 clamp, the C loop
    otherwise; M55: Helium) for three parameter sets, with and without tables, against the
    host build."""
    from test_conv import c_int_arrays, run_on_qemu

    from tinydeploy.ir.ops.add import table_ties

    x1, x2 = all_pairs()
    cases, chunk = [], 16384
    for i in range(3):
        p = random_add_params(np.random.default_rng(200 + i), i)
        tables = tdnn.add_tables(add_struct(p))
        want = ref.add(x1, x2, p)
        ties = table_ties(add_op(p), tables) if i else 0  # set 0: TFLM's sign test
        ref.assert_same(tdnn.add(x1, x2, add_struct(p, tables, ties)), want)
        pre = f"add{i}"
        decls = c_int_arrays(pre, t1=tables[0], t2=tables[1])
        if i == 0:
            decls += c_int_arrays("add", x1=x1, x2=x2)
        fields = ", ".join(f".{k} = {v}" for k, v in p.items() if k != "act")
        for with_tables in (True, False):
            tab = (f", .input1_table = {pre}_t1, .input2_table = {pre}_t2, .table_ties = {ties}"
                   if with_tables else "")
            for k in range(0, x1.size, chunk):  # the firmware's output buffer holds 16 KB
                n = min(chunk, x1.size - k) - (3 if k == 0 else 0)  # one call with a tail
                body = (f"    static const td_add_params ap = {{{fields}, .activation = "
                        f"{{{p['act'][0]}, {p['act'][1]}}}{tab}}};\n"
                        f"    return td_add_s8(&ap, add_x1 + {k}, add_x2 + {k}, out_buf, {n});\n")
                cases.append((f"add_{i}_{int(with_tables)}_{k}", decls, body, want[k:k + n]))
                decls = ""
    run_on_qemu(tmp_path, cases, core)


@pytest.mark.firmware
@pytest.mark.parametrize("core", ["m4", "m55"])
def test_avgpool_dsp_matches_host_on_qemu(tdnn, ref, tmp_path, core):
    """td_avgpool_s8_dsp (8 / 4 channels per word in int16 lanes, one rounded division per
    channel) against the host build and the numpy reference: the MLPerf Tiny global pools,
    padded and strided windows, channel counts with 4- and 1-channel tails, a 256-cell
    window of extremes (the int16 bound) and a 257-cell one (the portable path)."""
    from test_conv import c_int_arrays, run_on_qemu

    shapes = [  # (h, w, c, filter, stride, pad (top, left), out_hw, fill)
        (8, 8, 64, (8, 8), (1, 1), (0, 0), (1, 1), None),  # ResNet-8
        (25, 5, 64, (25, 5), (1, 1), (0, 0), (1, 1), None),  # DS-CNN
        (3, 3, 256, (3, 3), (1, 1), (0, 0), (1, 1), None),  # MobileNetV1
        (7, 7, 13, (3, 3), (2, 2), (1, 1), (4, 4), None),  # SAME, padding excluded
        (6, 5, 12, (2, 3), (1, 2), (0, 1), (5, 3), None),
        (5, 4, 3, (2, 2), (2, 2), (0, 0), (2, 2), None),
        (16, 16, 8, (16, 16), (1, 1), (0, 0), (1, 1), -128),
        (16, 16, 8, (16, 16), (1, 1), (0, 0), (1, 1), 127),
        (17, 16, 4, (17, 16), (1, 1), (0, 0), (1, 1), None),
    ]
    rng = np.random.default_rng(33)
    cases = []
    for i, (h, w, c, filt, stride, pad, out_hw, fill) in enumerate(shapes):
        x = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
        if fill is not None:
            x[:] = fill
        act = [(-128, 127), (-20, 127), (-100, 40)][i % 3]
        expected = tdnn.pool("avg", x, filt, stride, pad, out_hw, act)
        ref.assert_same(expected, ref.avgpool(x, filt, stride, pad, out_hw, act))
        p = f"ap{i}"
        body = (
            f"    static const td_pool_params pp = {{{stride[0]}, {stride[1]}, {filt[0]}, "
            f"{filt[1]}, {pad[0]}, {pad[1]}, {{{act[0]}, {act[1]}}}}};\n"
            f"    static const td_dims id = {{1, {h}, {w}, {c}}};\n"
            f"    static const td_dims od = {{1, {out_hw[0]}, {out_hw[1]}, {c}}};\n"
            f"    return td_avgpool_s8(&pp, &id, {p}_x, &od, out_buf);\n"
        )
        cases.append((f"avgpool_{i}", c_int_arrays(p, x=x), body, expected))
    run_on_qemu(tmp_path, cases, core)
