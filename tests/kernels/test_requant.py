"""td_requantize (the shared inline helper) against tinydeploy.quant.fixedpoint."""

from __future__ import annotations

import numpy as np

from tinydeploy.quant.fixedpoint import multiply_by_quantized_multiplier, requantize_to_int8

EDGE_ACC = [0, 1, -1, 2, -2, 3, 1 << 30, -(1 << 30), 2**31 - 1, -(2**31), 12345, -12345]
EDGE_MULT = [0, 1, 2**30, 2**31 - 1, 1518500250, -(2**31), -(2**30)]
EDGE_SHIFT = [-31, -30, -20, -1, 0, 1, 5, 30]


def test_requantize_edges(tdnn):
    bad = []
    for acc in EDGE_ACC:
        for mult in EDGE_MULT:
            for shift in EDGE_SHIFT:
                want = int(multiply_by_quantized_multiplier(acc, mult, shift))
                if want > 2**31 - 1 or want < -(2**31):  # undefined in TFLM too
                    continue
                got = tdnn.requantize(acc, mult, shift)
                if got != want:
                    bad.append((acc, mult, shift, got, want))
    assert not bad, bad[:20]


def test_requantize_random(tdnn):
    rng = np.random.default_rng(0)
    acc = rng.integers(-(2**31), 2**31, size=3000)
    mult = rng.integers(0, 2**31, size=3000)
    shift = rng.integers(-31, 8, size=3000)
    want = multiply_by_quantized_multiplier(acc, mult, shift)
    got = np.array(
        [tdnn.requantize(int(a), int(m), int(s)) for a, m, s in zip(acc, mult, shift, strict=True)]
    )
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, [(acc[i], mult[i], shift[i], got[i], want[i]) for i in bad[:20]]


def test_requantize_block_fast_path(tdnn):
    """The folded single-rounding-step path equals TFLM's double rounding everywhere."""
    rng = np.random.default_rng(1)
    edge = np.array([0, 1, -1, 2**31 - 1, -(2**31), 1 << 30, -(1 << 30), 12345, -12345],
                    dtype=np.int64)  # fmt: skip
    acc = np.concatenate([edge, rng.integers(-(2**31), 2**31, size=4000)])
    small = rng.integers(-5000, 5000, size=4000)
    acc = np.concatenate([acc, small]).astype(np.int32)
    bad = []
    for shift in [-31, -30, -29, -17, -9, -2, -1, 0, 1, 4]:
        for mult in [0, 1, 1 << 30, 2**31 - 1, 1518500250, int(rng.integers(1 << 30, 2**31))]:
            for off, act in [(0, (-128, 127)), (-7, (-7, 100))]:
                want = requantize_to_int8(acc, mult, shift, off, *act)
                got = tdnn.requantize_block(acc, mult, shift, off, act)
                idx = np.flatnonzero(got != want)
                bad += [(int(acc[i]), mult, shift, off, got[i], want[i]) for i in idx[:3]]
    assert not bad, bad[:20]
