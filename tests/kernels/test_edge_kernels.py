"""td_lut_s8, td_quantize_f32_s8 and td_dequantize_s8_f32 (the host build) against the numpy
references (`tinydeploy.quant.affine`, TFLite Micro's arithmetic): every table index,
float32 halfway points, clamps at both ends, NaN, every int8 value dequantized at many
scales, in place, and argument errors."""

from __future__ import annotations

import numpy as np
import pytest

from tinydeploy.quant.affine import affine_quantize, dequantize
from tinydeploy.tdnn.host import TdnnError
from tinydeploy.tdnn.structs import TD_ERR_ARG


def same_bits(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype
    bad = np.flatnonzero(got.view(np.uint8) != want.view(np.uint8))
    assert bad.size == 0, f"{bad.size} mismatching bytes, first at {bad[:10]}"


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 255, 256, 1001])
@pytest.mark.parametrize("dtype", [np.int8, np.uint8])
def test_lut_every_index_any_size(tdnn, size, dtype):
    rng = np.random.default_rng(size)
    table = rng.integers(-128, 128, 256, dtype=np.int8)
    x = rng.integers(0, 256, size, dtype=np.uint8).view(dtype)
    if size >= 256:
        x[:256] = np.arange(256, dtype=np.uint8).view(dtype)  # every index once
    same_bits(tdnn.lut(table, x), table[x.view(np.uint8)].view(dtype))


def test_lut_in_place(tdnn):
    """output may be input (the header says so)."""
    import ctypes as C

    table = np.arange(256, dtype=np.uint8)[::-1].copy().view(np.int8)
    x = np.arange(256, dtype=np.uint8).view(np.int8).copy()
    want = table[x.view(np.uint8)]
    ptr = C.c_void_p(x.ctypes.data)
    tdnn._call("td_lut_s8", C.c_void_p(table.ctypes.data), ptr, ptr, C.c_int32(x.size))
    same_bits(x, want)


SCALES = [1 / 255, 0.003921569, 0.0123, 0.05, 0.25, 1.0, 3.7]


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("zero_point", [-128, -17, 0, 5, 127])
def test_quantize_f32_ties_clamps_and_random(tdnn, scale, zero_point):
    s = np.float32(scale)
    k = np.arange(-300, 300, dtype=np.float64)
    halfway = ((k + 0.5) * np.float64(s)).astype(np.float32)  # exact ties where representable
    nearby = np.nextafter(halfway, np.float32(np.inf)), np.nextafter(halfway, np.float32(-np.inf))
    rng = np.random.default_rng(7)
    rand = rng.normal(0, 100 * scale, 5000).astype(np.float32)
    far = np.array([0.0, -0.0, 1e-38, -1e-38, 1e9 * s, -1e9 * s], dtype=np.float32)
    x = np.concatenate([halfway, *nearby, rand, far]).astype(np.float32)
    same_bits(tdnn.quantize_f32(x, float(s), zero_point), affine_quantize(x, s, zero_point))


def test_quantize_f32_saturates_and_nan_is_minimum(tdnn):
    x = np.array([np.inf, -np.inf, 3.4e38, -3.4e38, np.nan], dtype=np.float32)
    got = tdnn.quantize_f32(x, 0.01, 3)
    assert got.tolist() == [127, -128, 127, -128, -128]


@pytest.mark.parametrize("scale", [*SCALES, 1e-6, 123.456, 0.00784313772])
@pytest.mark.parametrize("zero_point", [-128, -1, 0, 64, 127])
def test_dequantize_every_value(tdnn, scale, zero_point):
    x = np.arange(256, dtype=np.uint8).view(np.int8)
    s = float(np.float32(scale))
    got = tdnn.dequantize(x, s, zero_point)
    same_bits(got, dequantize(x, s, zero_point))
    # TFLM's own formula: the double product rounded to float once
    tflm = (np.float64(s) * (x.astype(np.float64) - zero_point)).astype(np.float32)
    same_bits(got, tflm)


@pytest.mark.parametrize(("call", "args"), [
    ("lut", (np.zeros(256, np.int8), np.zeros(4, np.float32))),  # not 8-bit data
])
def test_host_binding_rejects_wrong_arrays(tdnn, call, args):
    with pytest.raises(ValueError):
        getattr(tdnn, call)(*args)


@pytest.mark.parametrize(("scale", "zero_point"), [(0.0, 0), (-1.0, 0), (float("nan"), 0),
                                                   (0.1, 128), (0.1, -129)])
def test_bad_parameters_are_rejected(tdnn, scale, zero_point):
    for kernel, x in (("quantize_f32", np.zeros(4, np.float32)),
                      ("dequantize", np.zeros(4, np.int8))):
        with pytest.raises(TdnnError) as err:
            getattr(tdnn, kernel)(x, scale, zero_point)
        assert err.value.status == TD_ERR_ARG


def test_null_pointers_are_rejected(tdnn):
    import ctypes as C

    buf = np.zeros(8, np.int8)
    p = C.c_void_p(buf.ctypes.data)
    for args in ((None, p, p), (p, None, p), (p, p, None)):
        with pytest.raises(TdnnError):
            tdnn._call("td_lut_s8", *args, C.c_int32(8))
    with pytest.raises(TdnnError):
        tdnn._call("td_lut_s8", p, p, p, C.c_int32(-1))


@pytest.mark.firmware
@pytest.mark.parametrize("core", ["m4", "m55"])
def test_edge_kernels_match_host_on_qemu(core, tmp_path):
    """The kernel benchmark's edge cases (1024 elements each, float outputs compared as
    bytes) built for the core and run on QEMU, checked against the host library."""
    import subprocess
    import sys

    from test_conv import BENCH, require_qemu_tools

    require_qemu_tools()
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--core", core, "--only",
         "^(lut1024|quantize_f32_1024|dequantize_1024)/", "--keep-build", str(tmp_path)],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if "per element" in ln]
    assert len(lines) == 3, proc.stdout
