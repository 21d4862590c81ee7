"""The *_get_buffer_size() companions, pinned to the formulas tdnn's README documents.

The C functions are the only source of these sizes: the generator asks the host build of
tdnn (there is no Python mirror it could fall back to), `test_sanitize` runs every kernel
with exactly this much scratch under AddressSanitizer, and these tests make a change to a
kernel's scratch a deliberate one (update the README's formula with it)."""

from __future__ import annotations

import numpy as np
import pytest

from tinydeploy.tdnn.formats import get_format
from tinydeploy.tdnn.host import ConvSpec


def a4(n: int) -> int:
    return (n + 3) & ~3


def band_shape(w, c, oc, kh, kw, pad, stride_w, fused) -> bool:
    """td_conv_dense_s8_band_shape: 3x3, unpooled, even out_c, in_c 3, or in_c 16 with
    stride_w 1 and rows whose last position triplet wastes at most 1/16."""
    conv_w = (w + pad[1] + pad[3] - kw) // stride_w + 1
    waste = (3 - conv_w % 3) % 3
    return (kh, kw, fused, oc % 2) == (3, 3, False, 0) and (
        c == 3 or (c == 16 and stride_w == 1 and 16 * waste <= conv_w))


def band_scratch(h, w, c, oc, pad, stride_w):
    """12 accumulator rows, 3 band rows; in_c 3: int16 weights (28 per row) + 3 columns;
    in_c 16: the int16 weights when they take at most 8 KB and no more than the input."""
    row = (c * (pad[1] + w + pad[3] + 2 * stride_w) + 5) & ~1
    wide = 2 * oc * 9 * c if c == 16 and 2 * oc * 9 * c <= min(8192, h * w * c) else 0
    return 3 + 48 * oc + 2 * 3 * row + (2 * (28 * oc + 84) if c == 3 else 0) + wide


def conv_scratch(fmt, h, w, c, oc, kh, kw, pad, stride_h, stride_w=1, fused=False):
    k = kh * kw * c
    wp = w + pad[1] + pad[3]
    if fmt == "dense":
        if c == 1 and kw == 3:  # in_c == 1 fast path: prepared rows + one padded band
            return 3 + 8 * kh * oc + a4((kh + stride_h) * wp + 4)
        k4 = a4(k)
        # 12 accumulator rows (positions; 4 pooled outputs + one 2x2 window; 3 pooled
        # windows), up to three int16 im2col columns, one int8 receptive field
        im2col = 3 + 48 * oc + 24 * (k4 // 4 + 1) + k4 + 4 + (oc * k4 if k4 != k else 0)
        # int16 weights for the 3 columns: at most 10 KB and no more than the input
        if k in (72, 144) and oc % 2 == 0 and 2 * oc * k <= min(10240, h * w * c):
            im2col += 3 + 2 * oc * k
        if band_shape(w, c, oc, kh, kw, pad, stride_w, fused):
            return max(im2col, band_scratch(h, w, c, oc, pad, stride_w))
        return im2col
    # sparse: effective biases + a band of kh + stride_h padded rows (no padded input copy)
    return 3 + 4 * oc + (kh + stride_h) * wp * c


@pytest.mark.parametrize("fmt", ["dense", "csr", "nm2_4"])
@pytest.mark.parametrize("fused", [False, True])
def test_conv_buffer_size(tdnn, fmt, fused):
    rng = np.random.default_rng(0)
    w = rng.integers(-2, 3, size=(6, 3 * 3 * 5)).astype(np.int8)
    if fmt == "nm2_4":
        w[:, 2::4] = 0
        w[:, 3::4] = 0
    enc = get_format(fmt).encode(w)
    spec = ConvSpec(3, 3, (1, 1), (1, 0, 1, 2), 0, 0, (-128, 127), fused)
    got = tdnn.conv_buffer_size((9, 7, 5), enc, spec)
    assert got == conv_scratch(fmt, 9, 7, 5, 6, 3, 3, (1, 0, 1, 2), 1)


@pytest.mark.parametrize(
    "h,w,c,oc,stride,pad",
    [(32, 32, 3, 16, 1, (1, 1, 1, 1)), (96, 96, 3, 8, 2, (0, 0, 1, 1)),
     (32, 32, 16, 16, 1, (1, 1, 1, 1)), (16, 16, 16, 32, 2, (0, 0, 1, 1)),
     (5, 60, 32, 4, 2, (1, 1, 1, 1)), (8, 8, 64, 64, 1, (1, 1, 1, 1)), (6, 6, 16, 3, 1, (1,) * 4),
     (2, 40, 16, 28, 1, (1, 1, 1, 1)), (2, 40, 16, 30, 1, (1, 1, 1, 1)),
     (4, 4, 8, 70, 1, (1, 1, 1, 1)), (4, 4, 8, 72, 1, (1, 1, 1, 1))],
)  # fmt: skip
def test_conv_buffer_size_band_shapes(tdnn, h, w, c, oc, stride, pad):
    """Shapes the band variant may take on DSP cores: the size covers it on every core."""
    wt = np.ones((oc, 9 * c), dtype=np.int8)
    spec = ConvSpec(3, 3, (stride, stride), pad, 0, 0, (-128, 127), False)
    got = tdnn.conv_buffer_size((h, w, c), get_format("dense").encode(wt), spec)
    assert got == conv_scratch("dense", h, w, c, oc, 3, 3, pad, stride, stride)


@pytest.mark.parametrize("stride_h", [1, 2])
def test_conv_buffer_size_single_channel_dense(tdnn, stride_h):
    w = np.ones((8, 9), dtype=np.int8)
    spec = ConvSpec(3, 3, (stride_h, 1), (1, 1, 1, 1), 0, 0, (-128, 127), True)
    got = tdnn.conv_buffer_size((28, 28, 1), get_format("dense").encode(w), spec)
    assert got == conv_scratch("dense", 28, 28, 1, 8, 3, 3, (1, 1, 1, 1), stride_h)


@pytest.mark.parametrize(
    "fmt,want", [("dense", 3 + 2 * 52), ("csr", 0), ("nm1_16", 3 + 2 * 64)]
)
def test_fc_buffer_size(tdnn, fmt, want):
    w = np.zeros((4, 50), dtype=np.int8)
    assert tdnn.fc_buffer_size(50, get_format(fmt).encode(w)) == want


def test_generator_without_a_host_build_is_a_clear_error(monkeypatch):
    import tinydeploy.codegen.generator as generator
    from tinydeploy.codegen.generator import generate_c
    from tinydeploy.errors import FirmwareError
    from tinydeploy.latency.shapes import LayerShape, synthetic_graph

    def no_compiler():
        raise FirmwareError("host C compiler 'gcc' not found on PATH (install gcc: ...)")

    monkeypatch.setattr(generator, "load_hostlib", no_compiler)
    graph = synthetic_graph(LayerShape("fc", (32,), 8), "fc")
    with pytest.raises(FirmwareError, match=r"sizes kernel scratch.*install gcc"):
        generate_c(graph, "dense")
