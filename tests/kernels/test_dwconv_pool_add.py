"""Depthwise conv, max/avg pooling and int8 ADD against TFLM-style numpy references."""

from __future__ import annotations

import numpy as np
import pytest

from tinydeploy.quant.fixedpoint import quantize_multiplier
from tinydeploy.tdnn.structs import Activation, AddParams


@pytest.mark.parametrize(
    "h,w,c,k,stride,pad,dmul",
    [
        (8, 8, 4, 3, (1, 1), (1, 1, 1, 1), 1),
        (9, 7, 3, 3, (2, 2), (0, 0, 1, 1), 2),
        (6, 6, 5, 5, (1, 1), (2, 2, 2, 2), 1),
        (5, 4, 2, 1, (1, 2), (0, 0, 0, 0), 3),
    ],
)
def test_dwconv(tdnn, ref, h, w, c, k, stride, pad, dmul):
    rng = np.random.default_rng(h * w + c)
    x = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
    wt = rng.integers(-128, 128, size=(k, k, c * dmul)).astype(np.int8)
    bias = rng.integers(-3000, 3000, size=c * dmul).astype(np.int32)
    mult, shift = ref.random_quant(rng, c * dmul, (-11, -6))
    mult[0], shift[-1] = 0, -31
    got = tdnn.dwconv(x, wt, bias, mult, shift, stride, pad, dmul, 17, -4, (-4, 127))
    want = ref.dwconv(x, wt, bias, mult, shift, stride, pad, dmul, 17, -4, (-4, 127))
    ref.assert_same(got, want)


POOL_CASES = [
    # (h, w, c, filter, stride, pad(top,left), out_hw)
    (8, 8, 3, (2, 2), (2, 2), (0, 0), (4, 4)),
    (7, 9, 2, (2, 2), (2, 2), (0, 0), (3, 4)),  # odd sizes, VALID floor
    (7, 7, 4, (3, 3), (2, 2), (1, 1), (4, 4)),  # SAME with padding excluded from the window
    (5, 6, 1, (3, 2), (1, 2), (1, 0), (5, 3)),
]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("act", [(-128, 127), (-5, 100)])
def test_pool(tdnn, ref, kind, case, act):
    h, w, c, filt, stride, pad, out_hw = case
    rng = np.random.default_rng(h * 31 + w)
    x = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
    fn = ref.maxpool if kind == "max" else ref.avgpool
    ref.assert_same(tdnn.pool(kind, x, filt, stride, pad, out_hw, act),
                    fn(x, filt, stride, pad, out_hw, act))  # fmt: skip


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize(("pad", "out_hw"), [((2, 0), (2, 2)), ((0, 2), (2, 2)),
                                             ((0, 0), (3, 2))])
def test_pool_window_all_padding_is_an_argument_error(tdnn, kind, pad, out_hw):
    """A window with no input cell (above/left of the input, or past its end) fails with
    TD_ERR_ARG, whichever output position it is at."""
    from tinydeploy.tdnn.host import TdnnError

    x = np.ones((4, 4, 3), dtype=np.int8)
    with pytest.raises(TdnnError) as err:
        tdnn.pool(kind, x, (2, 2), (2, 2), pad, out_hw)
    assert err.value.status == -1  # TD_ERR_ARG


def test_avgpool_rounding_ties(tdnn, ref):
    """Sums exactly halfway between integers round away from zero, for both signs."""
    x = np.array([[[1], [2]], [[-1], [-2]], [[-3], [0]], [[3], [0]]], dtype=np.int8)
    got = tdnn.pool("avg", x, (1, 2), (1, 2), (0, 0), (4, 1))
    ref.assert_same(got, ref.avgpool(x, (1, 2), (1, 2), (0, 0), (4, 1)))
    assert got.reshape(-1).tolist() == [2, -2, -2, 2]


def tflm_add_params(s1, z1, s2, z2, so, zo, act=(-128, 127)):
    """Parameters exactly as TFLM's add.cc prepares them for int8."""
    left_shift = 20
    twice_max = 2 * max(s1, s2)
    m1, sh1 = quantize_multiplier(s1 / twice_max)
    m2, sh2 = quantize_multiplier(s2 / twice_max)
    mo, sho = quantize_multiplier(twice_max / ((1 << left_shift) * so))
    return {
        "input1_offset": -z1, "input1_multiplier": m1, "input1_shift": sh1,
        "input2_offset": -z2, "input2_multiplier": m2, "input2_shift": sh2,
        "left_shift": left_shift, "output_offset": zo, "output_multiplier": mo,
        "output_shift": sho, "act": act,
    }  # fmt: skip


@pytest.mark.parametrize(
    "s1,z1,s2,z2,so,zo,act",
    [
        (0.05, 3, 0.02, -7, 0.06, 1, (-128, 127)),
        (0.1, -128, 0.1, -128, 0.2, -128, (-128, 127)),
        (0.5, 10, 0.001, 0, 0.01, 5, (5, 127)),  # saturates at both ends
        (0.0039, -128, 0.0078, 0, 0.0117, -20, (-128, 127)),
    ],
)
def test_add(tdnn, ref, s1, z1, s2, z2, so, zo, act):
    rng = np.random.default_rng(1)
    x1 = rng.integers(-128, 128, size=(5, 7, 3)).astype(np.int8)
    x2 = rng.integers(-128, 128, size=(5, 7, 3)).astype(np.int8)
    p = tflm_add_params(s1, z1, s2, z2, so, zo, act)
    fields = {k: v for k, v in p.items() if k != "act"}
    params = AddParams(**fields, activation=Activation(*act))
    ref.assert_same(tdnn.add(x1, x2, params), ref.add(x1, x2, p))
