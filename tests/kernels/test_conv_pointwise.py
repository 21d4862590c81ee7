"""The 1x1 (pointwise) dense conv variant against the int64 numpy reference (host build:
its portable path) and, on QEMU Cortex-M4, its DSP asm against the host build, bit for bit.
Shapes: random ones (odd channel counts, strides 1..3, pixel counts that leave 1..3 pixels in
the last block of 4), the exact pointwise layers of the MLPerf Tiny models, fused activation
ranges and quantisation at the edges of what the asm takes (those calls fall back to the
im2col variant on DSP cores)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from test_conv import c_int_arrays, run_on_qemu

from tinydeploy.tdnn.formats import get_format
from tinydeploy.tdnn.host import ConvSpec

# (H, W, in_c, out_c, stride) of the pointwise layers of the MLPerf Tiny models
MLPERF_SHAPES = {
    "dscnn_pw": (25, 5, 64, 64, 1),
    "mbv1_pw1": (48, 48, 8, 16, 1),
    "mbv1_pw2": (24, 24, 16, 32, 1),
    "mbv1_pw3": (24, 24, 32, 32, 1),
    "mbv1_pw4": (12, 12, 32, 64, 1),
    "mbv1_pw5": (12, 12, 64, 64, 1),
    "mbv1_pw6": (6, 6, 64, 128, 1),
    "mbv1_pw7": (6, 6, 128, 128, 1),
    "mbv1_pw8": (3, 3, 128, 256, 1),
    "mbv1_pw9": (3, 3, 256, 256, 1),
    "resnet8_sc1": (32, 32, 16, 32, 2),
    "resnet8_sc2": (16, 16, 32, 64, 2),
}

# (H, W, in_c, out_c, (stride_h, stride_w)): odd and small channel counts, odd groups of 4
# input channels (in_c % 8 == 4), strides, every remainder of the pixel count mod 4 (and
# blocks of 6 pixels for in_c <= 16)
RANDOM_SHAPES = [
    (6, 5, 5, 7, (1, 1)),
    (1, 1, 4, 1, (1, 1)),
    (1, 3, 4, 3, (1, 1)),
    (3, 5, 4, 5, (1, 1)),  # in_c 4: one group, blocks of 6 pixels then 3
    (2, 3, 12, 5, (1, 1)),
    (3, 3, 20, 9, (1, 1)),
    (5, 7, 8, 16, (2, 2)),
    (7, 9, 16, 6, (2, 1)),
    (9, 8, 24, 10, (1, 3)),
    (4, 4, 1, 3, (1, 1)),
    (5, 6, 3, 4, (2, 2)),
    (3, 5, 36, 33, (3, 2)),
    (7, 7, 64, 8, (2, 2)),
    (2, 3, 1024, 6, (1, 1)),  # K > 512: Helium declines, the 1x1 variant runs on M55 too
    # the DSP pixel-at-a-time routines: in_c 8 with out_c % 8 == 0, in_c 16 with out_c % 4 == 0
    (4, 5, 8, 8, (1, 1)),
    (3, 7, 8, 24, (1, 2)),
    (5, 3, 16, 4, (2, 1)),
    (6, 6, 16, 20, (1, 1)),
]


def pw_case(rng, shape, quant=None, act=(-128, 127), in_off=None, out_off=None, dead=()):
    h, w, c, oc, stride = shape
    x = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
    wt = rng.integers(-128, 128, size=(oc, 1, 1, c)).astype(np.int8)
    wt[list(dead)] = 0  # fully pruned output channels
    if quant is None:
        bias = rng.integers(-20000, 20000, size=oc).astype(np.int32)
        mult = rng.integers(1 << 30, 2**31 - 1, size=oc).astype(np.int32)
        shift = rng.integers(-12, -5, size=oc).astype(np.int32)
    else:
        mult, shift, bias = quant
    in_off = int(rng.integers(-127, 129)) if in_off is None else in_off
    out_off = int(rng.integers(-128, 128)) if out_off is None else out_off
    spec = ConvSpec(1, 1, stride, (0, 0, 0, 0), in_off, out_off, act, False)
    return x, wt, bias, mult, shift, spec


def check_host(tdnn, ref, x, wt, bias, mult, shift, spec) -> np.ndarray:
    oc = wt.shape[0]
    got = tdnn.conv(x, get_format("dense").encode(wt.reshape(oc, -1)), bias, mult, shift, spec)
    want = ref.conv(x, wt, bias, mult, shift, spec.stride, (0, 0, 0, 0), spec.input_offset,
                    spec.output_offset, spec.act)  # fmt: skip
    ref.assert_same(got, want)
    return got


@pytest.mark.parametrize("name", list(MLPERF_SHAPES))
def test_pointwise_mlperf_shapes(tdnn, ref, name):
    h, w, c, oc, s = MLPERF_SHAPES[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    check_host(tdnn, ref, *pw_case(rng, (h, w, c, oc, (s, s)), in_off=128, out_off=-128))


@pytest.mark.parametrize("i", range(len(RANDOM_SHAPES)))
@pytest.mark.parametrize("act", [(-128, 127), (-128, 0), (-20, 90)])
def test_pointwise_random_shapes(tdnn, ref, i, act):
    rng = np.random.default_rng(1000 + i)
    check_host(tdnn, ref, *pw_case(rng, RANDOM_SHAPES[i], act=act))


@pytest.mark.parametrize("in_off,out_off", [(128, -128), (-127, 127), (0, 0)])
def test_pointwise_extreme_offsets(tdnn, ref, in_off, out_off):
    rng = np.random.default_rng(7)
    check_host(tdnn, ref, *pw_case(rng, (5, 6, 16, 12, (1, 1)), in_off=in_off, out_off=out_off,
                                   act=(out_off, 127)))  # fmt: skip


def asm_edge_quant(c: int, oc: int = 8):
    """Quantisation at the asm's limits (right shifts 1 and 22, the largest |bias| it takes,
    multiplier 0) and one set with channels outside them (shift 0 / -23 / left, |bias| over
    the limit): the DSP core runs that call through the im2col variant."""
    lim = (1 << 30) - 1 - c * 255 * 128
    inside = (np.array([0, 2**31 - 1, 1 << 30, 2**31 - 1, 1518500250, 1 << 30, 2**31 - 1,
                        1 << 30], dtype=np.int32),
              np.array([-9, -1, -22, -22, -1, -12, -7, -13], dtype=np.int32),
              np.array([7, lim, -lim, 2**20, -(2**20), 100, -3, 0], dtype=np.int32))
    outside = (inside[0], np.array([-9, 0, -23, 3, -31, -12, 1, -13], dtype=np.int32),
               np.array([7, lim + 1, -lim, 2**20, -(2**29), 100, -3, 0], dtype=np.int32))
    return {"inside": inside, "outside": outside}  # fmt: skip


# fully pruned channels (rows DEAD_ROWS all zero) as the converter quantises them: shifts
# near -30, multiplier 0 or < 0, biases near +-2^30; only they are outside the asm's range,
# so the DSP core keeps the 1x1 variant (with a constant output for them)
DEAD_ROWS = (1, 2, 3, 5, 6)
DEAD_QUANT = (
    np.array([1 << 30, 1600000000, 0, -5, 1 << 30, 1 << 30, 1200000000, 1 << 30],
             dtype=np.int32),
    np.array([-9, -29, 0, -26, -12, -31, 4, -8], dtype=np.int32),
    np.array([300, 0, 5000, -(2**30), 77, 2**30 + 12345, 2**29, -900], dtype=np.int32),
)  # fmt: skip


@pytest.mark.parametrize("act", [(-128, 127), (-20, 127)])
def test_pointwise_pruned_channels(tdnn, ref, act):
    rng = np.random.default_rng(4)
    check_host(tdnn, ref, *pw_case(rng, (6, 7, 16, 8, (1, 1)), quant=DEAD_QUANT, act=act,
                                   dead=DEAD_ROWS))  # fmt: skip


@pytest.mark.parametrize("which", ["inside", "outside"])
def test_pointwise_quant_edges(tdnn, ref, which):
    rng = np.random.default_rng(3)
    quant = asm_edge_quant(16)[which]
    out = check_host(tdnn, ref, *pw_case(rng, (5, 7, 16, 8, (1, 1)), quant=quant, in_off=128,
                                         out_off=-3))  # fmt: skip
    assert (out == 127).any() and (out == -128).any()


def test_pointwise_buffer_size_is_the_largest_variant(tdnn):
    """1x1 shapes may run the 1x1 or the im2col variant: the scratch covers both."""
    w = np.ones((24, 8), dtype=np.int8)
    spec = ConvSpec(1, 1, (1, 1), (0, 0, 0, 0), 0, 0, (-128, 127), False)
    got = tdnn.conv_buffer_size((6, 6, 8), get_format("dense").encode(w), spec)
    pointwise = 3 + 16 * 24 + 12 * 8
    im2col = 3 + 48 * 24 + 24 * (8 // 4 + 1) + 8 + 4
    assert got == max(pointwise, im2col)


# ---- the DSP asm on QEMU Cortex-M4, bit-exact with the host build --------------------------


def qemu_case(tdnn, name, x, wt, bias, mult, shift, spec):
    oc = wt.shape[0]
    h, w, c = x.shape
    expected = tdnn.conv(x, get_format("dense").encode(wt.reshape(oc, -1)), bias, mult, shift,
                         spec)  # fmt: skip
    ho, wo = expected.shape[:2]
    p = name
    decls = c_int_arrays(p, x=x, w=wt.reshape(oc, -1), b=bias, m=mult, s=shift)
    (sh, sw), act = spec.stride, spec.act
    body = (
        f"    static const td_quant_params q = {{{p}_m, {p}_s}};\n"
        f"    static const td_conv_params cp = {{{sh}, {sw}, 0, 0, 0, 0, {spec.input_offset}, "
        f"{spec.output_offset}, {{{act[0]}, {act[1]}}}, 0}};\n"
        f"    static const td_dims id = {{1, {h}, {w}, {c}}}, fd = {{{oc}, 1, 1, {c}}};\n"
        f"    static const td_dims od = {{1, {ho}, {wo}, {oc}}};\n"
        f"    return td_conv_dense_s8(&cp, &q, &id, {p}_x, &fd, {p}_w, {p}_b, &od, out_buf, "
        "scratch);\n"
    )
    return (name, decls, body, expected)


@pytest.mark.firmware
@pytest.mark.parametrize("core", ["m4", "m55"])
def test_pointwise_matches_host_on_qemu(tdnn, tmp_path, core):
    cases = []
    for i, shape in enumerate(RANDOM_SHAPES):
        for j, act in enumerate([(-128, 127), (-20, 90), (-128, 0), (3, 3)]):
            rng = np.random.default_rng(2000 + 10 * i + j)
            cases.append(qemu_case(tdnn, f"pw_r{i}_{j}", *pw_case(rng, shape, act=act)))
    for which, quant in asm_edge_quant(16).items():
        rng = np.random.default_rng(5)
        cases.append(qemu_case(tdnn, f"pw_q_{which}", *pw_case(rng, (5, 7, 16, 8, (1, 1)),
                                                               quant=quant)))  # fmt: skip
    for k, act in enumerate([(-128, 127), (-20, 127)]):
        rng = np.random.default_rng(6)
        cases.append(qemu_case(tdnn, f"pw_dead{k}", *pw_case(
            rng, (6, 7, 16, 8, (1, 1)), quant=DEAD_QUANT, act=act, dead=DEAD_ROWS)))
    for k, (in_off, out_off) in enumerate([(128, -128), (-127, 127), (0, 0)]):
        rng = np.random.default_rng(9 + k)
        cases.append(qemu_case(tdnn, f"pw_off{k}", *pw_case(
            rng, (5, 6, 16, 12, (1, 1)), in_off=in_off, out_off=out_off, act=(out_off, 127))))
    # the in_c 8 / 16 routines: with the sign correction (activation.min < output_offset) and
    # without it (activation.min >= output_offset, negative accumulators clamped), at the
    # quantisation limits and with fully pruned channels
    for c, oc in ((8, 16), (16, 8)):
        for k, (out_off, act) in enumerate([(-5, (-128, 127)), (-5, (-5, 127)), (-128, (-128, 127)),
                                            (20, (40, 100)), (20, (0, 127))]):
            rng = np.random.default_rng(300 + 10 * c + k)
            cases.append(qemu_case(tdnn, f"pw_rows{c}_{k}", *pw_case(
                rng, (3, 9, c, oc, (1, 1)), act=act, out_off=out_off)))
    for which, quant in asm_edge_quant(8).items():
        for k, act in enumerate([(-128, 127), (-3, 127)]):
            rng = np.random.default_rng(15 + k)
            cases.append(qemu_case(tdnn, f"pw_q8_{which}{k}", *pw_case(
                rng, (5, 7, 8, 8, (1, 1)), quant=quant, act=act, out_off=-3)))
    for k, act in enumerate([(-128, 127), (-20, 127)]):
        rng = np.random.default_rng(16)
        cases.append(qemu_case(tdnn, f"pw_dead8_{k}", *pw_case(
            rng, (6, 7, 8, 8, (1, 1)), quant=DEAD_QUANT, act=act, dead=DEAD_ROWS)))
    for name, (h, w, c, oc, s) in MLPERF_SHAPES.items():
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        cases.append(qemu_case(tdnn, name, *pw_case(rng, (h, w, c, oc, (s, s)), in_off=128,
                                                     out_off=-128)))  # fmt: skip
    run_on_qemu(tmp_path, cases, core)
