"""Fully connected kernels (dense, CSR, N:M) against the numpy reference."""

from __future__ import annotations

import numpy as np
import pytest

from tinydeploy.tdnn.formats import get_format
from tinydeploy.tdnn.host import TdnnError

FORMATS = ["dense", "csr", "csrd", "nm1_2", "nm2_4", "nm1_4", "nm1_8", "nm3_8", "nm1_16", "nm7_16"]


def make(rng, out_n, k, sparsity, fmt, ref):
    w = rng.integers(-128, 128, size=(out_n, k)).astype(np.int8)
    w[rng.random(w.shape) < sparsity] = 0
    if out_n > 3:
        w[2] = 0
    if fmt.startswith("nm"):
        n, m = (int(v) for v in fmt[2:].split("_"))
        w = ref.nm_mask(w, n, m, rng)
    return w


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "out_n,k,sparsity", [(64, 784, 0.9), (10, 64, 0.5), (7, 13, 0.0), (3, 300, 0.8), (5, 1, 0.0)]
)
def test_fc_matches_reference(tdnn, ref, fmt, out_n, k, sparsity):
    rng = np.random.default_rng(out_n * 1000 + k)
    x = rng.integers(-128, 128, size=k).astype(np.int8)
    w = make(rng, out_n, k, sparsity, fmt, ref)
    bias = rng.integers(-20000, 20000, size=out_n).astype(np.int32)
    mult, shift = ref.random_quant(rng, out_n, (-14, -6))
    in_off, out_off = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
    enc = get_format(fmt).encode(w)
    got = tdnn.fc(x, enc, bias, mult, shift, in_off, out_off)
    ref.assert_same(got, ref.fc(x, w, bias, mult, shift, in_off, out_off, (-128, 127)))


@pytest.mark.parametrize("fmt", ["dense", "csr", "csrd", "nm2_4", "nm3_8"])
def test_fc_quant_edges_and_relu(tdnn, ref, fmt):
    rng = np.random.default_rng(5)
    out_n, k = 8, 40
    x = rng.integers(-128, 128, size=k).astype(np.int8)
    w = make(rng, out_n, k, 0.4, fmt, ref)
    bias = np.array([2**30, -(2**30), 0, 5, -5, 2**31 - 1 - 2**20, 0, 1], dtype=np.int32)
    mult = np.array([2**31 - 1, 2**31 - 1, 0, 1 << 30, 1 << 30, 1 << 30, 2**31 - 1, 1 << 30],
                    dtype=np.int32)  # fmt: skip
    shift = np.array([-31, 0, 0, 30, -31, -25, 2, -1], dtype=np.int32)
    for act in [(-128, 127), (-10, 127), (-128, -128), (20, 21)]:
        got = tdnn.fc(x, get_format(fmt).encode(w), bias, mult, shift, 1, -10, act)
        ref.assert_same(got, ref.fc(x, w, bias, mult, shift, 1, -10, act))


def test_fc_csr_wide_row_ptr(tdnn, ref):
    """nnz > 65535 switches row_ptr to uint32; K > 256 uses uint16 columns."""
    rng = np.random.default_rng(9)
    w = rng.integers(1, 128, size=(260, 300)).astype(np.int8)
    x = rng.integers(-128, 128, size=300).astype(np.int8)
    enc = get_format("csr").encode(w)
    assert "row_ptr_u32" in enc.arrays and "col_idx_u16" in enc.arrays
    mult, shift = ref.random_quant(rng, 260, (-16, -12))
    ref.assert_same(tdnn.fc(x, enc, None, mult, shift, 3, 0),
                    ref.fc(x, w, None, mult, shift, 3, 0, (-128, 127)))  # fmt: skip


def test_fc_csr_rejects_out_of_range_column(tdnn):
    """Host builds define TD_VALIDATE_INDICES: a column >= K is an argument error."""
    enc = get_format("csr").encode(np.eye(4, 6, dtype=np.int8))
    enc.arrays["col_idx_u8"][2] = 6
    with pytest.raises(TdnnError) as err:
        tdnn.fc(np.zeros(6, np.int8), enc, None, 1 << 30, -1)
    assert err.value.status == -1


def test_fc_csrd_long_gaps(tdnn, ref):
    """Delta-coded columns with gaps over 255 (zero fillers), empty rows, a last-column
    entry, and the same bytes as CSR would read."""
    rng = np.random.default_rng(11)
    k = 2000
    w = np.zeros((6, k), dtype=np.int8)
    w[0, [0, 255, 256, 1999]] = [3, -4, 5, -6]
    w[1, 1999] = 9  # one entry, 7 fillers before it
    w[3] = rng.integers(-128, 128, size=k)  # fully dense
    w[4, rng.choice(k, 40, replace=False)] = 17
    enc = get_format("csrd").encode(w)
    assert enc.scalars["nnz"] > np.count_nonzero(w)  # fillers were needed
    x = rng.integers(-128, 128, size=k).astype(np.int8)
    mult, shift = ref.random_quant(rng, 6, (-16, -10))
    ref.assert_same(tdnn.fc(x, enc, None, mult, shift, -5, 2),
                    ref.fc(x, w, None, mult, shift, -5, 2, (-128, 127)))  # fmt: skip


def test_fc_csrd_rejects_running_column_past_k(tdnn):
    """TD_VALIDATE_INDICES (host builds): a delta that runs past K is an argument error."""
    w = np.zeros((2, 600), dtype=np.int8)
    w[0, [0, 255, 510, 590]] = 1  # deltas 0, 255, 255, 80
    enc = get_format("csrd").encode(w)
    enc.arrays["col_delta_u8"][3] = 200  # column 710
    with pytest.raises(TdnnError) as err:
        tdnn.fc(np.zeros(600, np.int8), enc, None, 1 << 30, -1)
    assert err.value.status == -1


@pytest.mark.firmware
def test_fc_dense_dsp_matches_host_on_qemu(tdnn, tmp_path):
    """The two-row LDM asm (16- and 8-input blocks, a last group of 4, odd row counts) and
    the paths it leaves to the 4-row loop (K % 4 != 0, unaligned weights, one row)."""
    from test_conv import c_int_arrays, run_on_qemu

    shapes = [  # (k, out, weight offset into the array, act, shift range)
        (100, 13, 0, (-128, 127), (-14, -6)),  # 6 x 16 inputs, last group of 4
        (8, 4, 0, (-128, 127), (-14, -6)),  # one 8-input block only
        (56, 2, 0, (-128, 127), (-14, -6)),  # 3 x 16 + 8
        (60, 3, 0, (-20, 127), (-14, -6)),  # 3 x 16 + 8 + 4, odd rows
        (4, 5, 0, (-128, 127), (-14, -6)),
        (40, 7, 0, (5, 100), (-31, 3)),  # left shifts, -31
        (24, 1, 0, (-128, 127), (-14, -6)),
        (37, 7, 0, (-128, 127), (-14, -6)),
        (64, 9, 1, (-128, 127), (-14, -6)),
    ]
    rng = np.random.default_rng(8)
    cases = []
    for i, (k, out_n, woff, act, srange) in enumerate(shapes):
        x = rng.integers(-128, 128, size=k).astype(np.int8)
        w = rng.integers(-128, 128, size=(out_n, k)).astype(np.int8)
        bias = rng.integers(-20000, 20000, size=out_n).astype(np.int32)
        mult = rng.integers(1 << 30, 2**31 - 1, size=out_n).astype(np.int32)
        shift = rng.integers(srange[0], srange[1] + 1, size=out_n).astype(np.int32)
        in_off, out_off = int(rng.integers(-127, 129)), act[0]
        expected = tdnn.fc(x, get_format("dense").encode(w), bias, mult, shift, in_off,
                           out_off, act)  # fmt: skip
        p = f"f{i}"
        wpad = np.concatenate([np.zeros(woff, np.int8), w.reshape(-1)])
        decls = c_int_arrays(p, x=x, w=wpad, b=bias, m=mult, s=shift)
        body = (
            f"    static const td_quant_params q = {{{p}_m, {p}_s}};\n"
            f"    static const td_fc_params fp = {{{in_off}, {out_off}, {{{act[0]}, {act[1]}}}}};\n"
            f"    return td_fc_dense_s8(&fp, &q, {k}, {p}_x, {out_n}, {p}_w + {woff}, {p}_b, "
            "out_buf, scratch);\n"
        )
        cases.append((f"fc_{i}", decls, body, expected))
    run_on_qemu(tmp_path, cases)


#: the MLPerf Tiny FC autoencoder's layers (in, out) and TinyNet's
AE_FC_SHAPES = [(640, 128), (128, 128), (128, 8), (8, 128), (128, 640), (784, 64), (64, 10)]


@pytest.mark.firmware
def test_fc_dense_pair_asm_on_qemu(tdnn, ref, tmp_path):
    """The row-pair asm with requantisation inside (K % 8 == 0, bias, full int8 clamp) on the
    autoencoder's and TinyNet's shapes, every K % 32 tail, and the pairs it leaves to C:
    shifts 0, > 0 and below -22, negative multipliers, accumulators at and past 2^30."""
    from test_conv import c_int_arrays, run_on_qemu

    rng = np.random.default_rng(9)
    cases = []
    shapes = [(k, n, None) for k, n in AE_FC_SHAPES] + [
        (16, 12, "shifts"), (24, 9, "bigacc"), (8, 7, "shifts"), (48, 2, "bigacc"),
        (40, 6, None), (72, 5, None), (88, 3, None)]  # K % 32 = 8, 8, 24 after the 32-loop
    for i, (k, out_n, edge) in enumerate(shapes):
        x = rng.integers(-128, 128, size=k).astype(np.int8)
        w = rng.integers(-128, 128, size=(out_n, k)).astype(np.int8)
        bias = rng.integers(-20000, 20000, size=out_n).astype(np.int32)
        mult = rng.integers(1 << 30, 2**31 - 1, size=out_n).astype(np.int32)
        shift = rng.integers(-12, -6, size=out_n).astype(np.int32)
        in_off, out_off = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
        if edge == "shifts":
            shift[: min(out_n, 12)] = [-1, -22, -23, 0, 1, -31, -22, -1, -5, -9, -2, -21][:out_n]
            mult[2] = -(1 << 30)
            mult[5] = 0
        elif edge == "bigacc":  # |acc| must stay below 2^30 for the doubling
            lim = 1 << 30
            bias[:6] = [lim - 1, -lim, lim - 3000, -lim + 3000, 2**31 - 1, -(2**31)][: out_n]
            shift[:] = -25
        act = (-128, 127)
        expected = tdnn.fc(x, get_format("dense").encode(w), bias, mult, shift, in_off,
                           out_off, act)  # fmt: skip
        if edge != "bigacc":  # int32 wrap-around of the accumulator is outside the reference
            ref.assert_same(expected, ref.fc(x, w, bias, mult, shift, in_off, out_off, act))
        p = f"fq{i}"
        decls = c_int_arrays(p, x=x, w=w, b=bias, m=mult, s=shift)
        body = (
            f"    static const td_quant_params q = {{{p}_m, {p}_s}};\n"
            f"    static const td_fc_params fp = {{{in_off}, {out_off}, {{{act[0]}, {act[1]}}}}};\n"
            f"    return td_fc_dense_s8(&fp, &q, {k}, {p}_x, {out_n}, {p}_w, {p}_b, "
            "out_buf, scratch);\n"
        )
        cases.append((f"fq_{i}", decls, body, expected))
    run_on_qemu(tmp_path, cases)
