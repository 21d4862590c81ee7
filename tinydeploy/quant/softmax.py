"""int8 SOFTMAX exactly as TFLite Micro computes it (reference_ops::Softmax, int8 -> int8).

TFLM evaluates exp() and 1/x in gemmlowp fixed point: input differences x - max(x) are scaled
to Q5.26, exponentiated by a Taylor polynomial on [-1/4, 0) times a barrel of exp(-2^k)
constants, summed in Q12.19, inverted by Newton-Raphson, and the product is rounded to the
output scale 1/256 with zero point -128. Every step below mirrors one gemmlowp / TFLM
function, vectorised over int64 numpy arrays holding int32 values (wrapped like C int32).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinydeploy.errors import ExportError
from tinydeploy.quant.fixedpoint import (
    INT32_MAX,
    INT32_MIN,
    quantize_multiplier,
    rounding_divide_by_pot,
)
from tinydeploy.quant.fixedpoint import (
    saturating_rounding_doubling_high_mul as srdhm,
)

SCALED_DIFF_INTEGER_BITS = 5  # Q5.26 input to exp()
ACCUMULATION_INTEGER_BITS = 12  # Q12.19 sum of exps
OUTPUT_SCALE = 1.0 / 256.0  # the int8 softmax output quantization TFLM requires
OUTPUT_ZERO_POINT = -128


@dataclass(frozen=True)
class SoftmaxParams:
    """TFLM's SoftmaxParams for int8: the beta * input_scale multiplier and diff_min."""

    input_multiplier: int
    input_left_shift: int
    diff_min: int


def softmax_params(beta: float, input_scale: float) -> SoftmaxParams:
    """PreprocessSoftmaxScaling + CalculateInputRadius (double-rounding build)."""
    real = min(beta * input_scale * (1 << (31 - SCALED_DIFF_INTEGER_BITS)), (1 << 31) - 1.0)
    multiplier, shift = quantize_multiplier(real)
    if shift < 0:
        raise ExportError(f"SOFTMAX: beta * input scale = {beta * input_scale:g} is too small "
                          "for TFLite Micro's int8 softmax")
    max_input_rescaled = (1.0 * ((1 << SCALED_DIFF_INTEGER_BITS) - 1)
                          * (1 << (31 - SCALED_DIFF_INTEGER_BITS)) / (1 << shift))
    return SoftmaxParams(multiplier, shift, -math.floor(max_input_rescaled))


def _wrap(x: np.ndarray) -> np.ndarray:
    """C int32 arithmetic wraps; keep int64 carriers inside int32."""
    return (np.asarray(x, dtype=np.int64) + 2**31) % 2**32 - 2**31


def _saturating_shift_left(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp SaturatingRoundingMultiplyByPOT for a positive exponent."""
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX,
                    np.where(x < -threshold, INT32_MIN, _wrap(x << exponent)))


def _exp_on_quarter_interval(a: np.ndarray) -> np.ndarray:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor series around -1/8."""
    constant_term = 1895147668  # exp(-1/8)
    one_third = 715827883
    x = _wrap(a + (1 << 28))
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    poly = rounding_divide_by_pot(_wrap(srdhm(_wrap(x4_over_4 + x3), one_third) + x2), 1)
    return _wrap(constant_term + srdhm(constant_term, _wrap(x + poly)))


# exp(-2^k) in Q0.31 for the barrel shifter, k = -2..4 (gemmlowp's constants)
_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
           (2, 39332535), (3, 720401), (4, 242))


def exp_on_negative_values(a: np.ndarray,
                           integer_bits: int = SCALED_DIFF_INTEGER_BITS) -> np.ndarray:
    """gemmlowp exp_on_negative_values for input a <= 0 in Q<integer_bits> (softmax: Q5.26,
    logistic: Q4.27); Q0.31 result. The barrel uses the exp(-2^k) with k < integer_bits."""
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_quarter = _wrap((a & (one_quarter - 1)) - one_quarter)
    result = _exp_on_quarter_interval(
        _saturating_shift_left(a_mod_quarter_minus_quarter, integer_bits))
    remainder = _wrap(a_mod_quarter_minus_quarter - a)
    for exponent, multiplier in _BARREL:
        if exponent >= integer_bits:
            continue
        bit = (remainder & (1 << (fractional_bits + exponent))) != 0
        result = np.where(bit, srdhm(result, multiplier), result)
    return np.where(a == 0, INT32_MAX, result)


def _rounding_half_sum(a: np.ndarray, b: int) -> np.ndarray:
    total = a + b
    sign = np.where(total >= 0, 1, -1)
    both = total + sign
    return np.where(both >= 0, both // 2, -((-both) // 2))  # C division truncates


def one_over_one_plus_x(a: np.ndarray) -> np.ndarray:
    """gemmlowp one_over_one_plus_x_for_x_in_0_1: Newton-Raphson, Q0.31 in and out."""
    half_denominator = _rounding_half_sum(a, INT32_MAX)
    x = _wrap(1515870810 + srdhm(half_denominator, -1010580540))  # 48/17 - 32/17 * d, Q2.29
    one_q2 = 1 << 29
    for _ in range(3):
        one_minus = _wrap(one_q2 - srdhm(half_denominator, x))
        x = _wrap(x + _saturating_shift_left(srdhm(x, one_minus), 2))
    return _saturating_shift_left(x, 1)


def _count_leading_zeros(x: np.ndarray) -> np.ndarray:
    """CLZ of int32 values read as uint32 (TFLM's CountLeadingZeros(uint32_t), 32 for 0): a
    sum of exps that wrapped negative (4096 or more terms near the maximum) has none; frexp
    is exact for integers below 2**53."""
    _, bit_length = np.frexp(np.asarray(x, dtype=np.int64).astype(np.float64) % 2**32)
    return 32 - bit_length.astype(np.int64)


def softmax_int8(x: np.ndarray, params: SoftmaxParams) -> np.ndarray:
    """int8 softmax over the last axis, output scale 1/256 and zero point -128."""
    x = np.asarray(x, dtype=np.int64)
    diff = x - x.max(axis=-1, keepdims=True)
    used = diff >= params.diff_min
    scaled = srdhm(_wrap(diff * (1 << params.input_left_shift)), params.input_multiplier)
    exps = np.where(used, exp_on_negative_values(scaled), 0)
    sum_of_exps = _wrap(rounding_divide_by_pot(exps, ACCUMULATION_INTEGER_BITS)
                        .sum(axis=-1, keepdims=True))
    headroom_plus_one = _count_leading_zeros(sum_of_exps)
    num_bits_over_unit = ACCUMULATION_INTEGER_BITS - headroom_plus_one
    shifted_sum_minus_one = _wrap(((sum_of_exps & 0xFFFFFFFF) << headroom_plus_one) - 2**31)
    shifted_scale = one_over_one_plus_x(shifted_sum_minus_one)
    unsat = rounding_divide_by_pot(srdhm(shifted_scale, exps), num_bits_over_unit + 31 - 8)
    out = np.clip(unsat + OUTPUT_ZERO_POINT, -128, 127)
    return np.where(used, out, -128).astype(np.int8)
