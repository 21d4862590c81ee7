"""Weight-format encoders: exact round trips (hypothesis), dtype rules, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinydeploy.errors import TinydeployError
from tinydeploy.tdnn.formats import (
    WeightFormatError,
    format_names,
    get_format,
)
from tinydeploy.tdnn.formats.nm import meta_row_bytes


@st.composite
def sparse_matrices(draw, max_rows=12, max_k=70):
    rows = draw(st.integers(1, max_rows))
    k = draw(st.integers(1, max_k))
    seed = draw(st.integers(0, 2**32 - 1))
    density = draw(st.sampled_from([0.0, 0.05, 0.3, 0.7, 1.0]))
    rng = np.random.default_rng(seed)
    w = rng.integers(-128, 128, size=(rows, k)).astype(np.int8)
    w[rng.random(w.shape) >= density] = 0
    if rows > 1 and draw(st.booleans()):
        w[draw(st.integers(0, rows - 1))] = rng.integers(1, 128, size=k)  # fully dense row
    if rows > 1 and draw(st.booleans()):
        w[draw(st.integers(0, rows - 1))] = 0  # empty row
    return w


@settings(max_examples=150, deadline=None)
@given(sparse_matrices())
def test_csr_round_trip(w):
    fmt = get_format("csr")
    enc = fmt.encode(w)
    np.testing.assert_array_equal(fmt.decode(enc), w)
    a = enc.arrays
    assert enc.scalars["nnz"] == np.count_nonzero(w) == a["values"].size
    assert ("col_idx_u8" in a) == (w.shape[1] <= 256)
    ptr = a["row_ptr_u16"]
    assert ptr[0] == 0 and ptr[-1] == enc.scalars["nnz"] and np.all(np.diff(ptr.astype(int)) >= 0)
    assert enc.c_type("values") == "int8_t"


@settings(max_examples=150, deadline=None)
@given(sparse_matrices(max_k=1200), st.integers(0, 3))
def test_csrd_round_trip(w, lone_tail):
    """Delta-coded columns: exact round trip, gaps over 255 bridged by zero fillers."""
    if lone_tail and w.shape[1] > 600:
        w[0] = 0
        w[0, -1] = 7  # a single far entry: needs fillers before it
    fmt = get_format("csrd")
    enc = fmt.encode(w)
    np.testing.assert_array_equal(fmt.decode(enc), w)
    a = enc.arrays
    cols = fmt.columns(enc)
    fillers = a["values"] == 0
    assert np.count_nonzero(~fillers) == np.count_nonzero(w) and (cols < w.shape[1]).all()
    ptr = (a["row_ptr_u16"] if "row_ptr_u16" in a else a["row_ptr_u32"]).astype(int)
    for r in range(w.shape[0]):  # a filler exists only where the next gap is too wide
        d = a["col_delta_u8"][ptr[r]:ptr[r + 1]].astype(int)
        assert (d[fillers[ptr[r]:ptr[r + 1]]] == 255).all()
    assert enc.scalars["nnz"] == a["values"].size == a["col_delta_u8"].size


@st.composite
def nm_matrices(draw):
    m = draw(st.sampled_from([2, 4, 8, 16]))
    n = draw(st.integers(1, m - 1))
    w = draw(sparse_matrices())
    rows, k = w.shape
    groups = -(-k // m)
    pad = np.zeros((rows, groups * m), dtype=np.int8)
    pad[:, :k] = w
    g = pad.reshape(rows, groups, m)
    # keep at most n nonzeros per group (the first ones)
    keep = np.cumsum(g != 0, axis=2) <= n
    g = np.where(keep, g, 0)
    return n, m, g.reshape(rows, -1)[:, :k].copy()


@settings(max_examples=200, deadline=None)
@given(nm_matrices())
def test_nm_round_trip(args):
    n, m, w = args
    fmt = get_format(f"nm{n}_{m}")
    enc = fmt.encode(w)
    np.testing.assert_array_equal(fmt.decode(enc), w)
    rows, k = w.shape
    groups = -(-k // m)
    stride = meta_row_bytes(groups, n, m)
    assert stride % 4 == 0 and enc.scalars["meta_row_bytes"] == stride
    assert enc.arrays["values"].size == rows * groups * n
    assert enc.arrays["meta"].size == rows * stride
    # positions within a group are strictly ascending
    bits = m.bit_length() - 1
    raw = np.unpackbits(enc.arrays["meta"].reshape(rows, stride), axis=1, bitorder="little")
    pos = (raw[:, : groups * n * bits].reshape(rows, groups, n, bits) << np.arange(bits)).sum(3)
    assert np.all(np.diff(pos, axis=2) > 0)


def test_nm_meta_layout_is_lsb_first():
    w = np.zeros((1, 8), dtype=np.int8)
    w[0, 1], w[0, 6] = 5, -3  # 1:4 -> positions 1 and 2
    enc = get_format("nm1_4").encode(w)
    assert enc.arrays["values"].tolist() == [5, -3]
    assert enc.arrays["meta"].tolist() == [0b1001, 0, 0, 0]


def test_nm_rejects_too_many_nonzeros_naming_row_and_group():
    w = np.zeros((3, 8), dtype=np.int8)
    w[2, 4:7] = 1
    with pytest.raises(WeightFormatError, match=r"conv2: row 2 group 1"):
        get_format("nm2_4").encode(w, layer="conv2")


def test_registry():
    assert {"dense", "csr", "nm2_4", "nm1_16"} <= set(format_names())
    for bad in ["coo", "nm4_4", "nm1_3", "nm0_4"]:
        with pytest.raises(TinydeployError, match="choose one of: csr, csrd, dense"):
            get_format(bad)


def test_rejects_non_int8():
    with pytest.raises(WeightFormatError):
        get_format("csr").encode(np.zeros((2, 2), dtype=np.float32))


def test_all_zero_layer_round_trips():
    w = np.zeros((4, 33), dtype=np.int8)
    for name in ["dense", "csr", "nm1_2", "nm3_8", "nm15_16"]:
        fmt = get_format(name)
        np.testing.assert_array_equal(fmt.decode(fmt.encode(w)), w)
