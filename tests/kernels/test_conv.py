"""conv2d kernels (dense, CSR, N:M) against the int64 numpy reference, bit for bit."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from tinydeploy.codegen.formats import get_format
from tinydeploy.firmware.hostlib import ConvSpec, TdnnError

FORMATS = ["dense", "csr", "nm2_4", "nm1_4", "nm3_8", "nm1_16", "nm5_16"]

# (H, W, in_c, out_c, kh, kw, stride, pad(t,l,b,r), fused, sparsity)
CASES = {
    "tinynet_conv2": (14, 14, 8, 16, 3, 3, (1, 1), (1, 1, 1, 1), False, 0.9),
    "tinynet_conv1_pool": (28, 28, 1, 8, 3, 3, (1, 1), (1, 1, 1, 1), True, 0.5),
    "1x1_odd_channels": (6, 5, 5, 7, 1, 1, (1, 1), (0, 0, 0, 0), False, 0.3),
    "5x5_stride2_valid": (11, 11, 3, 4, 5, 5, (2, 2), (0, 0, 0, 0), False, 0.6),
    "3x3_stride2_same": (10, 9, 3, 5, 3, 3, (2, 2), (0, 1, 1, 1), False, 0.0),
    "fused_pool_odd": (9, 7, 3, 3, 3, 3, (1, 1), (1, 1, 1, 1), True, 0.7),
    "fused_pool_stride2": (13, 12, 2, 6, 3, 3, (2, 2), (1, 1, 1, 1), True, 0.2),
    "5x5_same_odd_c": (7, 8, 3, 9, 5, 5, (1, 1), (2, 2, 2, 2), False, 0.95),
    "asym_pad_3x1": (6, 6, 4, 2, 3, 1, (1, 2), (2, 0, 0, 1), False, 0.4),
    # in_c == 1, kw == 3 dense fast path (2x2 blocks from a padded band) and its edges
    "c1_k3_odd_unpooled": (9, 7, 1, 5, 3, 3, (1, 1), (1, 1, 1, 1), False, 0.3),
    "c1_k5x3_stride_h2_pool_odd": (11, 9, 1, 4, 5, 3, (2, 1), (2, 1, 2, 1), True, 0.0),
    "c1_k3_valid": (6, 8, 1, 3, 3, 3, (1, 1), (0, 0, 0, 0), False, 0.5),
    "c1_k3_stride_w2": (8, 9, 1, 3, 3, 3, (1, 2), (1, 1, 1, 1), True, 0.2),
    # no horizontal padding: the sparse band points into the input (no copy)
    "valid_pool_no_band_copy": (8, 9, 4, 6, 3, 3, (1, 1), (0, 0, 0, 0), True, 0.8),
    "valid_stride2_no_copy": (9, 9, 3, 4, 3, 3, (2, 2), (0, 0, 0, 0), False, 0.5),
    # a single conv row / column: 1 x 2 and 2 x 1 edge blocks only
    "single_output_row": (3, 6, 2, 3, 3, 3, (1, 1), (0, 0, 0, 0), False, 0.4),
    "single_output_col": (6, 3, 2, 3, 3, 3, (1, 1), (0, 0, 0, 0), False, 0.4),
    # border-heavy: every window leaves the image
    "all_border_5x5": (3, 4, 3, 5, 5, 5, (1, 1), (2, 2, 2, 2), True, 0.5),
}


def make_weights(rng, out_c, kh, kw, in_c, sparsity, fmt, ref):
    w = rng.integers(-128, 128, size=(out_c, kh, kw, in_c)).astype(np.int8)
    w[rng.random(w.shape) < sparsity] = 0
    if out_c > 2:
        w[1] = 0  # all-zero output channel / empty CSR row
    w2d = w.reshape(out_c, -1)
    if fmt.startswith("nm"):
        n, m = (int(v) for v in fmt[2:].split("_"))
        w2d = ref.nm_mask(w2d, n, m, rng)
    return w2d.reshape(w.shape).copy()


def run_case(tdnn, ref, fmt, case, seed, in_off=None, out_off=None, act=(-128, 127)):
    h, w, c, oc, kh, kw, stride, pad, fused, sp = case
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
    wt = make_weights(rng, oc, kh, kw, c, sp, fmt, ref)
    bias = rng.integers(-5000, 5000, size=oc).astype(np.int32)
    mult, shift = ref.random_quant(rng, oc)
    in_off = int(rng.integers(-127, 129)) if in_off is None else in_off
    out_off = int(rng.integers(-128, 128)) if out_off is None else out_off
    spec = ConvSpec(kh, kw, stride, pad, in_off, out_off, act, fused)
    enc = get_format(fmt).encode(wt.reshape(oc, -1))
    got = tdnn.conv(x, enc, bias, mult, shift, spec)
    want = ref.conv(x, wt, bias, mult, shift, stride, pad, in_off, out_off, act, fused)
    ref.assert_same(got, want)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", list(CASES))
def test_conv_matches_reference(tdnn, ref, fmt, name):
    run_case(tdnn, ref, fmt, CASES[name], seed=zlib.crc32(name.encode()))


@pytest.mark.parametrize("fmt", ["dense", "csr", "nm2_4"])
@pytest.mark.parametrize("in_off,out_off", [(128, -128), (-127, 127), (0, 0)])
def test_conv_extreme_offsets_and_relu(tdnn, ref, fmt, in_off, out_off):
    case = (5, 6, 4, 6, 3, 3, (1, 1), (1, 1, 1, 1), False, 0.5)
    run_case(tdnn, ref, fmt, case, 7, in_off=in_off, out_off=out_off, act=(out_off, 127))


@pytest.mark.parametrize("fmt", ["dense", "csr", "nm1_4"])
@pytest.mark.parametrize("fused", [False, True])
def test_conv_quant_edges(tdnn, ref, fmt, fused):
    """Multiplier 0, shift -31, left shifts, huge biases: saturation at both ends."""
    rng = np.random.default_rng(3)
    oc, c = 8, 4
    x = rng.integers(-128, 128, size=(7, 6, c)).astype(np.int8)
    wt = make_weights(rng, oc, 3, 3, c, 0.5, fmt, ref)
    bias = np.array([0, 2**30, -(2**30), 100, -100, 2**29, 0, 7], dtype=np.int32)
    mult = np.array([0, 2**30, 2**31 - 1, 1 << 30, 2**31 - 1, 1518500250, 2**31 - 1, 0],
                    dtype=np.int32)  # fmt: skip
    shift = np.array([0, -31, -31, 3, 1, -20, -30, 5], dtype=np.int32)
    spec = ConvSpec(3, 3, (1, 1), (1, 1, 1, 1), 5, -3, (-128, 127), fused)
    got = tdnn.conv(x, get_format(fmt).encode(wt.reshape(oc, -1)), bias, mult, shift, spec)
    want = ref.conv(x, wt, bias, mult, shift, (1, 1), (1, 1, 1, 1), 5, -3, (-128, 127), fused)
    ref.assert_same(got, want)
    assert (want == 127).any() and (want == -128).any()


def test_conv_fully_dense_rows_in_sparse_formats(tdnn, ref):
    rng = np.random.default_rng(11)
    x = rng.integers(-128, 128, size=(6, 6, 3)).astype(np.int8)
    wt = rng.integers(1, 128, size=(4, 3, 3, 3)).astype(np.int8)  # no zeros at all
    mult, shift = ref.random_quant(rng, 4)
    spec = ConvSpec(3, 3, (1, 1), (1, 1, 1, 1), 3, 1)
    want = ref.conv(x, wt, None, mult, shift, (1, 1), (1, 1, 1, 1), 3, 1, (-128, 127))
    ref.assert_same(tdnn.conv(x, get_format("csr").encode(wt.reshape(4, -1)), None, mult, shift,
                              spec), want)  # fmt: skip


def test_conv_rejects_bad_arguments(tdnn, ref):
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, size=(4, 4, 2)).astype(np.int8)
    wt = rng.integers(-128, 128, size=(3, 3, 3, 2)).astype(np.int8)
    enc = get_format("dense").encode(wt.reshape(3, -1))
    with pytest.raises(TdnnError) as err:
        tdnn.conv(x, enc, None, 1 << 30, -8, ConvSpec(3, 3, input_offset=200))
    assert err.value.status == -1
    with pytest.raises(TdnnError):
        tdnn.conv(x, enc, None, 1 << 30, -8, ConvSpec(3, 3, act=(10, -10)))


@pytest.mark.parametrize("fmt", ["csr", "nm1_4"])
@pytest.mark.parametrize("fused", [False, True])
def test_conv_all_zero_weights(tdnn, ref, fmt, fused):
    """nnz == 0 (CSR: no taps at all): outputs are the requantised biases."""
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, size=(7, 5, 3)).astype(np.int8)
    wt = np.zeros((4, 3, 3, 3), dtype=np.int8)
    bias = rng.integers(-5000, 5000, size=4).astype(np.int32)
    mult, shift = ref.random_quant(rng, 4)
    spec = ConvSpec(3, 3, (1, 1), (1, 1, 1, 1), 9, -4, (-128, 127), fused)
    got = tdnn.conv(x, get_format(fmt).encode(wt.reshape(4, -1)), bias, mult, shift, spec)
    want = ref.conv(x, wt, bias, mult, shift, (1, 1), (1, 1, 1, 1), 9, -4, (-128, 127), fused)
    ref.assert_same(got, want)
