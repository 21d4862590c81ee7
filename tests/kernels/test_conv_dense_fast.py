"""The dense conv's 2-row x 3-column paths (td_conv_dense_s8_band.c, the im2col variant's
3-column kernel, also with the fused pool) at the MLPerf Tiny shapes and around their edges:
the host build (portable C) against the int64 numpy reference, then the DSP asm on QEMU
(Cortex-M4, and Cortex-M55 where the Helium variant declines) against both, with exactly
td_conv_dense_s8_get_buffer_size() bytes of misaligned scratch and a canary after them."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from test_conv import c_int_arrays, run_on_qemu

from tinydeploy.tdnn.formats import get_format
from tinydeploy.tdnn.host import ConvSpec

SAME_S1 = (1, 1, 1, 1)
# (H, W, in_c, out_c, k, stride, pad (t, l, b, r), fused, act, bias)
MLPERF = {
    "rn8_conv1": (32, 32, 3, 16, 3, 1, SAME_S1, False, "relu", True),
    "mbv1_conv1": (96, 96, 3, 8, 3, 2, (0, 0, 1, 1), False, "relu", True),
    "rn8_16_16_s1": (32, 32, 16, 16, 3, 1, SAME_S1, False, "relu", True),
    "rn8_16_32_s2": (32, 32, 16, 32, 3, 2, (0, 0, 1, 1), False, "relu", True),
    "rn8_32_32_s1": (16, 16, 32, 32, 3, 1, SAME_S1, False, "relu", True),
    "rn8_32_64_s2": (16, 16, 32, 64, 3, 2, (0, 0, 1, 1), False, "relu", True),
    "rn8_64_64_s1": (8, 8, 64, 64, 3, 1, SAME_S1, False, "relu", True),
    "tinynet_conv2_pool": (14, 14, 8, 16, 3, 1, SAME_S1, True, "full", True),
}
EDGES = {
    # in_c 3 band: conv row widths 0/1/2 mod 3, VALID, asymmetric and 2-pixel padding,
    # stride_h != stride_w, two output channels, no bias, a narrow clamp
    "c3_w7_valid": (9, 9, 3, 4, 3, 1, (0, 0, 0, 0), False, "full", True),
    "c3_w8_same": (6, 8, 3, 2, 3, 1, SAME_S1, False, "relu", False),
    "c3_s2_odd": (11, 13, 3, 6, 3, 2, (1, 1, 1, 1), False, "clamp", True),
    "c3_pad2_s21": (7, 5, 3, 10, 3, 1, (2, 2, 2, 2), False, "full", True),
    "c3_s12": (8, 10, 3, 4, 3, 2, (0, 1, 1, 0), False, "full", True),
    "c3_one_col": (5, 3, 3, 4, 3, 1, (0, 0, 0, 0), False, "full", True),
    # in_c 3 fallbacks: odd out_c, fused pool (im2col)
    "c3_odd_out": (8, 8, 3, 5, 3, 1, SAME_S1, False, "full", True),
    "c3_pool": (10, 10, 3, 6, 3, 1, SAME_S1, True, "full", True),
    # in_c 16 band: wide rows (waste <= 1/16), VALID, no bias (stride 2, in_c 32: im2col)
    "c16_w33_valid": (5, 35, 16, 4, 3, 1, (0, 0, 0, 0), False, "full", True),
    "c16_w48_s2": (7, 96, 16, 6, 3, 2, (0, 0, 1, 1), False, "relu", False),
    # in_c 16 with out_c 30: weights past the 8 KB widening limit, the int8 band kernel
    "c16_int8_w_s1": (4, 35, 16, 30, 3, 1, (0, 0, 0, 0), False, "relu", True),
    "c16_int8_w_s2": (5, 67, 16, 30, 3, 2, (0, 0, 0, 0), False, "full", False),
    "c32_w32": (4, 32, 32, 2, 3, 1, SAME_S1, False, "clamp", True),
    "c32_w30_s2": (5, 60, 32, 4, 3, 2, (1, 1, 1, 1), False, "full", True),
    # im2col 3-column kernel: short rows (band declines), K 72 / 144 (int16 weights when they
    # take <= 10 KB) / 288 / 576, no bias
    "c8_k72": (6, 7, 8, 6, 3, 1, SAME_S1, False, "full", False),
    "c8_k72_int8_w": (5, 6, 8, 72, 3, 1, SAME_S1, False, "full", True),  # > 10 KB as int16
    "c16_w16_s2": (16, 16, 16, 8, 3, 2, (0, 0, 1, 1), False, "relu", True),
    "c32_w10": (6, 10, 32, 4, 3, 1, SAME_S1, False, "full", True),
    "c64_w5_valid": (5, 5, 64, 6, 3, 1, (0, 0, 0, 0), False, "clamp", True),
    "c16_odd_out": (6, 6, 16, 3, 3, 1, SAME_S1, False, "full", True),
    # fused pool through the 3-column kernel: 1, 2 or 3 windows in the last batch, stride 2,
    # odd conv sizes, no bias
    "pool_k72_odd": (9, 11, 8, 4, 3, 1, SAME_S1, True, "full", True),
    "pool_k144_s2": (13, 12, 16, 6, 3, 2, SAME_S1, True, "relu", False),
    "pool_k288_one": (4, 4, 32, 2, 3, 1, SAME_S1, True, "full", True),
    "pool_k576_valid": (6, 8, 64, 4, 3, 1, (0, 0, 0, 0), True, "clamp", True),
}
ACTS = {"full": None, "relu": "relu", "clamp": (-50, 60)}


def make_case(name: str, shape: tuple, quant_edges: bool = False, bounds: bool = False) -> dict:
    h, w, c, oc, k, stride, pad, fused, act, has_bias = shape
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    x = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
    wt = rng.integers(-128, 128, size=(oc, k, k, c)).astype(np.int8)
    if oc > 2:
        wt[1] = 0  # an all-zero output channel
    bias = rng.integers(-20000, 20000, size=oc).astype(np.int32) if has_bias else None
    mult = rng.integers(1 << 30, (1 << 31) - 1, size=oc).astype(np.int32)
    shift = rng.integers(-14, -8, size=oc).astype(np.int32)
    if quant_edges:  # left shifts and negative multipliers: the non-monotonic pool branch
        mult[0], shift[0] = -(1 << 30), -10
        shift[-1], mult[-1] = 1, 1 << 30
    if bounds:  # the SMMLAR requantisation's limits: shifts -1 and -21, |bias| just inside
        lim = (1 << 30) - 1 - 9 * c * 32640
        shift[0], shift[1], mult[1] = -1, -21, (1 << 31) - 1
        bias[0], bias[-1] = lim - 1, -(lim - 1)
        mult[-1] = 0
        x[:2] = 127  # large accumulators next to the big biases
        wt[0] = 127
    in_off = int(rng.integers(-127, 129))
    out_off = int(rng.integers(-128, 128))
    a = ACTS[act]
    act_range = (out_off, 127) if a == "relu" else (a if a is not None else (-128, 127))
    return dict(name=name, x=x, w=wt, bias=bias, mult=mult, shift=shift, stride=(stride, stride),
                pad=pad, in_off=in_off, out_off=out_off, act=act_range, fused=fused)


def all_cases() -> list[dict]:
    cases = [make_case(n, s) for n, s in {**MLPERF, **EDGES}.items()]
    cases.append(make_case("pool_quant_edges", EDGES["pool_k72_odd"], quant_edges=True))
    cases.append(make_case("c16_quant_edges", EDGES["c16_w33_valid"], quant_edges=True))
    for name in ("rn8_conv1", "rn8_16_16_s1", "rn8_32_32_s1"):
        cases.append(make_case(f"{name}_bounds", {**MLPERF, **EDGES}[name], bounds=True))
    # one channel's bias past the limit: the whole call requantises the usual way
    over = make_case("c16_bias_over", EDGES["c16_w33_valid"])
    over["bias"][2] = (1 << 30) - 9 * 16 * 32640
    cases.append(over)
    return cases


def host_conv(tdnn, cs: dict) -> np.ndarray:
    spec = ConvSpec(3, 3, cs["stride"], cs["pad"], cs["in_off"], cs["out_off"], cs["act"],
                    cs["fused"])  # fmt: skip
    enc = get_format("dense").encode(cs["w"].reshape(cs["w"].shape[0], -1))
    return tdnn.conv(cs["x"], enc, cs["bias"], cs["mult"], cs["shift"], spec)


def ref_conv(ref, cs: dict) -> np.ndarray:
    return ref.conv(cs["x"], cs["w"], cs["bias"], cs["mult"], cs["shift"], cs["stride"],
                    cs["pad"], cs["in_off"], cs["out_off"], cs["act"], cs["fused"])  # fmt: skip


@pytest.mark.parametrize("case", all_cases(), ids=lambda cs: cs["name"])
def test_dense_conv_matches_reference(tdnn, ref, case):
    ref.assert_same(host_conv(tdnn, case), ref_conv(ref, case))


def qemu_case(i: int, cs: dict, expected: np.ndarray) -> tuple[str, str, str, np.ndarray]:
    """A firmware case: the conv on misaligned scratch of exactly the reported size, then a
    64-byte canary after it must be intact (else TD_ERR_ARG)."""
    p = f"k{i}"
    h, w, c = cs["x"].shape
    oc = cs["w"].shape[0]
    arrays = dict(x=cs["x"], w=cs["w"], m=cs["mult"], s=cs["shift"])
    if cs["bias"] is not None:
        arrays["b"] = cs["bias"]
    decls = c_int_arrays(p, **arrays)
    ho, wo = expected.shape[:2]
    (st, sw), (pt, pl, pb, pr) = cs["stride"], cs["pad"]
    bias = f"{p}_b" if cs["bias"] is not None else "0"
    body = (
        f"    static const td_quant_params q = {{{p}_m, {p}_s}};\n"
        f"    static const td_conv_params cp = {{{st}, {sw}, {pt}, {pl}, {pb}, {pr}, "
        f"{cs['in_off']}, {cs['out_off']}, {{{cs['act'][0]}, {cs['act'][1]}}}, "
        f"{int(cs['fused'])}}};\n"
        f"    static const td_dims id = {{1, {h}, {w}, {c}}}, fd = {{{oc}, 3, 3, {c}}};\n"
        f"    static const td_dims od = {{1, {ho}, {wo}, {oc}}};\n"
        "    uint8_t *s = scratch + 1;\n"
        "    const int32_t size = td_conv_dense_s8_get_buffer_size(&cp, &id, &fd);\n"
        "    td_status st;\n"
        "    int32_t i;\n"
        "    if (size + 65 > (int32_t)sizeof(scratch)) return TD_ERR_ARG;\n"
        "    memset(s + size, 0xA5, 64);\n"
        f"    st = td_conv_dense_s8(&cp, &q, &id, {p}_x, &fd, {p}_w, {bias}, &od, out_buf, s);\n"
        "    for (i = 0; i < 64; i++) if (s[size + i] != 0xA5) return TD_ERR_ARG;\n"
        "    return st;\n"
    )
    return (cs["name"], decls, body, expected)


@pytest.mark.firmware
@pytest.mark.parametrize("core", ["m4", "m55"])
def test_dense_conv_dsp_matches_host_on_qemu(tdnn, ref, tmp_path, core):
    cases = []
    for i, cs in enumerate(all_cases()):
        expected = host_conv(tdnn, cs)
        ref.assert_same(expected, ref_conv(ref, cs))
        cases.append(qemu_case(i, cs, expected))
    run_on_qemu(tmp_path, cases, core)
