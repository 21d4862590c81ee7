"""The *_get_buffer_size() companions agree with their documented host-side mirrors."""

from __future__ import annotations

import numpy as np
import pytest

from tinydeploy.codegen.formats import get_format
from tinydeploy.firmware.hostlib import ConvSpec


def a4(n: int) -> int:
    return (n + 3) & ~3


def conv_scratch(fmt, h, w, c, oc, kh, kw, pad, fused, enc):
    k = kh * kw * c
    padded = (h + pad[0] + pad[2]) * (w + pad[1] + pad[3]) * c
    if fmt == "dense":
        k4 = a4(k)
        return 3 + 48 * oc + 16 * (k4 // 4 + 1) + k4 + 4 + (oc * k4 if k4 != k else 0)
    entries = enc.scalars["nnz"] if fmt == "csr" else enc.arrays["values"].size
    return 3 + 4 * oc * 9 + 4 * (oc + 1) + a4(2 * entries) + padded


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
    assert got == conv_scratch(fmt, 9, 7, 5, 6, 3, 3, (1, 0, 1, 2), fused, enc)


@pytest.mark.parametrize(
    "fmt,want", [("dense", 3 + 2 * 52), ("csr", 3 + 2 * 50), ("nm1_16", 3 + 2 * 64)]
)
def test_fc_buffer_size(tdnn, fmt, want):
    w = np.zeros((4, 50), dtype=np.int8)
    assert tdnn.fc_buffer_size(50, get_format(fmt).encode(w)) == want
