"""conv2d kernels (dense, CSR, N:M) against the int64 numpy reference, bit for bit."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from tools_required import unavailable

from tinydeploy.tdnn.formats import get_format
from tinydeploy.tdnn.host import ConvSpec, TdnnError

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
    # in_c == 1, 3x3, stride 1, fused pool (dense: pool windows from a ring of padded rows):
    # odd conv sizes (last conv row / column dropped), odd out_c, one window, asymmetric
    # and two-row padding (whole zero-point rows), no padding (rows read from the input)
    "c1p_odd_sizes": (9, 11, 1, 7, 3, 3, (1, 1), (1, 1, 1, 1), True, 0.3),
    "c1p_one_window": (4, 5, 1, 2, 3, 3, (1, 1), (0, 0, 0, 0), True, 0.0),
    "c1p_asym_pad": (10, 7, 1, 5, 3, 3, (1, 1), (0, 2, 1, 0), True, 0.2),
    "c1p_pad2": (7, 8, 1, 3, 3, 3, (1, 1), (2, 2, 2, 2), True, 0.5),
    "c1p_valid": (8, 9, 1, 1, 3, 3, (1, 1), (0, 0, 0, 0), True, 0.1),
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


# in_c == 1 fused-pool quantisation mix: multiplier 0, shifts -1 / -22 (the DSP asm's
# limits), -23 / -31 / 0 / 1 / 3 (outside them: left shifts are not monotonic), biases at the
# asm's limit +-(2^30 - 2^19 - 1) and beyond it
C1P_QUANT = (
    np.array([0, 2**31 - 1, 1 << 30, 2**31 - 1, 1518500250, 1 << 30, 2**31 - 1, 1 << 30],
             dtype=np.int32),
    np.array([-9, -1, -22, -23, -31, 0, 3, 1], dtype=np.int32),
    np.array([7, (1 << 30) - (1 << 19) - 1, -((1 << 30) - (1 << 19) - 1), 2**30, -100, 100,
              -3, 2**29], dtype=np.int32),
)  # fmt: skip


@pytest.mark.parametrize("act", [(-128, 127), (-20, 127), (10, 90)])
def test_conv_c1_pool_quant_edges(tdnn, ref, act):
    rng = np.random.default_rng(13)
    x = rng.integers(-128, 128, size=(9, 8, 1)).astype(np.int8)
    wt = rng.integers(-128, 128, size=(8, 3, 3, 1)).astype(np.int8)
    mult, shift, bias = C1P_QUANT
    spec = ConvSpec(3, 3, (1, 1), (1, 1, 1, 1), 128, act[0], act, True)
    got = tdnn.conv(x, get_format("dense").encode(wt.reshape(8, -1)), bias, mult, shift, spec)
    want = ref.conv(x, wt, bias, mult, shift, (1, 1), (1, 1, 1, 1), 128, act[0], act, True)
    ref.assert_same(got, want)


# ---- Cortex-M DSP / Helium paths on QEMU, bit-exact with the host build --------------------

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "kernels" / "run_kernel_bench.py"


def require_qemu_tools() -> None:
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} not on PATH")


def kernel_bench():
    """The kernel benchmark module (benchmarks/kernels/run_kernel_bench.py), loaded once."""
    bench = sys.modules.get("run_kernel_bench")
    if bench is None:
        spec = importlib.util.spec_from_file_location("run_kernel_bench", BENCH)
        bench = importlib.util.module_from_spec(spec)
        sys.modules["run_kernel_bench"] = bench  # its dataclasses resolve names there
        spec.loader.exec_module(bench)
    return bench


def run_on_qemu(build_dir: Path, cases: list[tuple[str, str, str, np.ndarray]],
                core: str = "m4") -> None:
    """Builds one firmware of the kernel benchmark for `core` (m4 or m55) with the cases
    (name, C declarations, body of a td_status function calling the kernel into out_buf /
    scratch, expected int8 output), runs it in QEMU and asserts every case returns TD_OK
    with the expected bytes."""
    require_qemu_tools()
    bench = kernel_bench()
    parts = []
    for i, (_, decls, body, expected) in enumerate(cases):
        parts += [decls, bench.c_array("int8_t", f"exp{i}", expected),
                  f"static td_status run{i}(void)\n{{\n{body}}}\n"]  # fmt: skip
    parts.append("static const bench_case CASES[] = {\n")
    parts += [f'    {{"{c[0]}", run{i}, exp{i}, {c[3].size}}},\n' for i, c in enumerate(cases)]
    parts.append("};\n")
    build_dir.mkdir(parents=True, exist_ok=True)
    (build_dir / "bench_cases.h").write_text("".join(parts))
    log = bench.run_qemu(bench.build_firmware(build_dir, core), core)
    results = [ln.split()[1:] for ln in log.splitlines() if ln.startswith("case ")]
    assert [r[0] for r in results] == [c[0] for c in cases], log[-3000:]
    bad = [r for r in results if r[2:] != ["status=0", "match=1"]]
    assert not bad, bad


def c_int_arrays(prefix: str, **arrays: np.ndarray) -> str:
    out = ""
    for name, values in arrays.items():
        ctype = "int8_t" if values.dtype == np.int8 else "int32_t"
        flat = ",".join(str(int(v)) for v in values.reshape(-1))
        out += (f"static const {ctype} {prefix}_{name}[{values.size}] "
                f"__attribute__((aligned(4))) = {{{flat}}};\n")  # fmt: skip
    return out


@pytest.mark.firmware
def test_conv_c1_pool_dsp_matches_host_on_qemu(tdnn, tmp_path):
    """The in_c == 1 3x3 fused-pool asm (and its fallbacks) on odd shapes and quantisation."""
    lim = (1 << 30) - (1 << 19) - 1  # largest |bias| the asm takes
    edges = (np.array([0, 1 << 30, 2**31 - 1, 1 << 30, 2**31 - 1, 1 << 30, 1 << 30, 1 << 30],
                      dtype=np.int32),
             np.array([-9, -1, -22, -2, -21, -12, -7, -13], dtype=np.int32),
             np.array([5, lim, -lim, 0, -7, 3000, -3000, 1], dtype=np.int32))  # fmt: skip
    one_out = (edges[0], edges[1].copy(), edges[2])
    one_out[1][3] = -23  # one channel outside the asm's shifts: the whole call falls back
    # fully pruned channels (all 9 weights zero) as the converter quantises them: tiny weight
    # scale -> shift near -30, or multiplier 0; their constant output goes through the asm
    dead = (np.array([1 << 30, 1600000000, 0, 2**31 - 1, 1 << 30, 1 << 30, 1200000000,
                      1 << 30], dtype=np.int32),
            np.array([-9, -29, 0, -26, -12, -31, -5, -8], dtype=np.int32),
            np.array([300, 0, 5000, -2**30, 77, 2**30 + 12345, 2**29, -900], dtype=np.int32))
    dead_rows = [1, 2, 3, 5, 6]
    full = (-128, 127)
    shapes = [  # (h, w, out_c, pad (t, l, b, r), in_off, out_off, act, quant or None)
        (9, 11, 7, (1, 1, 1, 1), 5, 3, full, None),
        (6, 6, 1, (1, 1, 1, 1), -127, 127, full, None),
        (8, 9, 2, (0, 0, 0, 0), 0, 0, full, None),
        (10, 7, 5, (0, 2, 1, 0), 77, -5, full, None),
        (12, 13, 9, (2, 2, 2, 2), 128, -20, (-20, 127), None),
        (4, 4, 3, (0, 0, 0, 0), 1, 1, (10, 90), None),
        (6, 8, 33, (1, 1, 1, 1), 128, -128, full, None),
        (9, 8, 8, (1, 1, 1, 1), 128, -128, full, edges),
        (9, 8, 8, (1, 1, 1, 1), 128, -128, full, one_out),
        (9, 8, 8, (1, 1, 1, 1), -3, 9, (0, 127), C1P_QUANT),
        (9, 8, 8, (1, 1, 1, 1), 128, -128, full, dead),
        (10, 9, 8, (1, 1, 1, 1), 128, 17, (-20, 127), dead),
    ]
    rng = np.random.default_rng(21)
    cases = []
    for i, (h, w, oc, pad, in_off, out_off, act, quant) in enumerate(shapes):
        wt = rng.integers(-128, 128, size=(oc, 9)).astype(np.int8)
        x = rng.integers(-128, 128, size=(h, w, 1)).astype(np.int8)
        mult = rng.integers(1 << 30, 2**31 - 1, size=oc).astype(np.int32)
        shift = rng.integers(-13, -6, size=oc).astype(np.int32)
        bias = rng.integers(-5000, 5000, size=oc).astype(np.int32)
        if quant is not None:
            mult, shift, bias = quant
        if quant is dead:
            wt[dead_rows] = 0
        spec = ConvSpec(3, 3, (1, 1), pad, in_off, out_off, act, True)
        expected = tdnn.conv(x, get_format("dense").encode(wt), bias, mult, shift, spec)
        ho, wo = expected.shape[:2]
        p = f"c{i}"
        decls = c_int_arrays(p, x=x, w=wt, b=bias, m=mult, s=shift)
        body = (
            f"    static const td_quant_params q = {{{p}_m, {p}_s}};\n"
            f"    static const td_conv_params cp = {{1, 1, {pad[0]}, {pad[1]}, {pad[2]}, "
            f"{pad[3]}, {in_off}, {out_off}, {{{act[0]}, {act[1]}}}, 1}};\n"
            f"    static const td_dims id = {{1, {h}, {w}, 1}}, fd = {{{oc}, 3, 3, 1}};\n"
            f"    static const td_dims od = {{1, {ho}, {wo}, {oc}}};\n"
            f"    return td_conv_dense_s8(&cp, &q, &id, {p}_x, &fd, {p}_w, {p}_b, &od, out_buf, "
            "scratch);\n"
        )
        cases.append((f"c1p_{i}", decls, body, expected))
    run_on_qemu(tmp_path, cases)
