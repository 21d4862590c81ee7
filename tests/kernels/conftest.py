"""Fixtures for the tdnn kernel tests: the host build of the library and numpy references.

The references are plain int64 numpy plus ``tinydeploy.quant.fixedpoint`` (TFLM's exact
requantisation); every kernel test compares bit for bit and reports mismatching indices.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tinydeploy.quant.fixedpoint import multiply_by_quantized_multiplier, requantize_to_int8
from tinydeploy.tdnn.build import build_hostlib
from tinydeploy.tdnn.host import TdnnHost


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sanitize: host kernels under AddressSanitizer/UBSan")
    config.addinivalue_line("markers", "cross: cross-compiles tdnn with arm-none-eabi-gcc")
    config.addinivalue_line("markers", "firmware: builds and runs firmware under QEMU")


@pytest.fixture(scope="session")
def hostlib_cache(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build cache shared across runs (pytest's cache dir) or a temp dir without it."""
    cache = getattr(request.config, "cache", None)
    if cache is None:
        return tmp_path_factory.mktemp("tdnn-hostlib")
    return Path(cache.mkdir("tdnn-hostlib"))


@pytest.fixture(scope="session")
def tdnn(hostlib_cache: Path) -> TdnnHost:
    return TdnnHost(build_hostlib(hostlib_cache))


def assert_same(got: np.ndarray, want: np.ndarray) -> None:
    """Bit-exact comparison listing every mismatching index."""
    assert got.shape == want.shape, (got.shape, want.shape)
    bad = np.argwhere(got != want)
    if bad.size:
        lines = [f"{tuple(i)}: got {got[tuple(i)]} want {want[tuple(i)]}" for i in bad[:50]]
        raise AssertionError(f"{len(bad)} mismatches of {got.size}:\n" + "\n".join(lines))


def conv_ref(x, w, bias, mult, shift, stride, pad, in_off, out_off, act, fused=False):
    """int8 conv2d NHWC x OHWI, TFLM arithmetic. pad = (top, left, bottom, right)."""
    h, wd, _ = x.shape
    o, kh, kw, _ = w.shape
    top, left, bottom, right = pad
    sh, sw = stride
    xp = np.pad(x.astype(np.int64) + in_off, ((top, bottom), (left, right), (0, 0)))
    ho = (h + top + bottom - kh) // sh + 1
    wo = (wd + left + right - kw) // sw + 1
    acc = np.zeros((ho, wo, o), dtype=np.int64)
    w64 = w.astype(np.int64)
    for ky in range(kh):
        for kx in range(kw):
            patch = xp[ky : ky + sh * (ho - 1) + 1 : sh, kx : kx + sw * (wo - 1) + 1 : sw, :]
            acc += patch @ w64[:, ky, kx, :].T
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64)
    out = requantize_to_int8(acc, np.asarray(mult), np.asarray(shift), out_off, *act)
    if fused:
        out = maxpool_ref(out, (2, 2), (2, 2), (0, 0), (ho // 2, wo // 2))
    return out


def dwconv_ref(x, w, bias, mult, shift, stride, pad, dmul, in_off, out_off, act):
    """Depthwise conv, w = [kh][kw][in_c*dmul], output channel ic*dmul + m."""
    xr = np.repeat(x, dmul, axis=2)
    kh, kw, oc = w.shape
    wf = np.zeros((oc, kh, kw, 1), dtype=np.int64)
    wf[:, :, :, 0] = np.transpose(w, (2, 0, 1))
    h, wd, _ = xr.shape
    top, left, bottom, right = pad
    xp = np.pad(xr.astype(np.int64) + in_off, ((top, bottom), (left, right), (0, 0)))
    ho = (h + top + bottom - kh) // stride[0] + 1
    wo = (wd + left + right - kw) // stride[1] + 1
    acc = np.zeros((ho, wo, oc), dtype=np.int64)
    for ky in range(kh):
        for kx in range(kw):
            patch = xp[ky : ky + stride[0] * (ho - 1) + 1 : stride[0],
                       kx : kx + stride[1] * (wo - 1) + 1 : stride[1], :]  # fmt: skip
            acc += patch * wf[:, ky, kx, 0]
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64)
    return requantize_to_int8(acc, np.asarray(mult), np.asarray(shift), out_off, *act)


def fc_ref(x, w, bias, mult, shift, in_off, out_off, act):
    acc = w.astype(np.int64) @ (x.astype(np.int64).reshape(-1) + in_off)
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64)
    return requantize_to_int8(acc, np.asarray(mult), np.asarray(shift), out_off, *act)


def _pool_windows(x, filt, stride, pad, out_hw):
    h, w, _ = x.shape
    for oy in range(out_hw[0]):
        for ox in range(out_hw[1]):
            y0, x0 = oy * stride[0] - pad[0], ox * stride[1] - pad[1]
            ys, xs = max(y0, 0), max(x0, 0)
            ye, xe = min(y0 + filt[0], h), min(x0 + filt[1], w)
            yield oy, ox, x[ys:ye, xs:xe, :].astype(np.int64).reshape(-1, x.shape[2])


def maxpool_ref(x, filt, stride, pad, out_hw, act=(-128, 127)):
    out = np.zeros((*out_hw, x.shape[2]), dtype=np.int8)
    for oy, ox, win in _pool_windows(x, filt, stride, pad, out_hw):
        out[oy, ox] = np.clip(win.max(axis=0), *act)
    return out


def avgpool_ref(x, filt, stride, pad, out_hw, act=(-128, 127)):
    """TFLM: (sum +/- count/2) / count with C truncating division."""
    out = np.zeros((*out_hw, x.shape[2]), dtype=np.int8)
    for oy, ox, win in _pool_windows(x, filt, stride, pad, out_hw):
        n = win.shape[0]
        s = win.sum(axis=0)
        num = np.where(s > 0, s + n // 2, s - n // 2)
        avg = np.sign(num) * (np.abs(num) // n)
        out[oy, ox] = np.clip(avg, *act)
    return out


def add_ref(x1, x2, p):
    """TFLM reference int8 Add (same shapes)."""
    a = (x1.astype(np.int64) + p["input1_offset"]) << p["left_shift"]
    b = (x2.astype(np.int64) + p["input2_offset"]) << p["left_shift"]
    sa = multiply_by_quantized_multiplier(a, p["input1_multiplier"], p["input1_shift"])
    sb = multiply_by_quantized_multiplier(b, p["input2_multiplier"], p["input2_shift"])
    raw = multiply_by_quantized_multiplier(sa + sb, p["output_multiplier"], p["output_shift"])
    return np.clip(raw + p["output_offset"], *p["act"]).astype(np.int8)


def random_quant(rng: np.random.Generator, n: int, shift_range=(-13, -7)):
    """Per-channel Q31 multipliers in [2^30, 2^31) and shifts in shift_range."""
    mult = rng.integers(1 << 30, (1 << 31) - 1, size=n, dtype=np.int64).astype(np.int32)
    shift = rng.integers(shift_range[0], shift_range[1] + 1, size=n).astype(np.int32)
    return mult, shift


def nm_mask(w: np.ndarray, n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """Prune rows of w (rows x K) to N:M: keep at most n random nonzeros per group."""
    rows, k = w.shape
    groups = -(-k // m)
    pad = np.zeros((rows, groups * m), dtype=w.dtype)
    pad[:, :k] = w
    g = pad.reshape(rows, groups, m)
    score = rng.random(g.shape)
    keep = np.argsort(score, axis=2)[:, :, :n]
    mask = np.zeros(g.shape, dtype=bool)
    np.put_along_axis(mask, keep, True, axis=2)
    return np.where(mask, g, 0).reshape(rows, groups * m)[:, :k].astype(np.int8)


@pytest.fixture(scope="session")
def ref() -> SimpleNamespace:
    return SimpleNamespace(
        conv=conv_ref,
        dwconv=dwconv_ref,
        fc=fc_ref,
        maxpool=maxpool_ref,
        avgpool=avgpool_ref,
        add=add_ref,
        random_quant=random_quant,
        nm_mask=nm_mask,
        assert_same=assert_same,
    )
