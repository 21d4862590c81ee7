"""TFLite Micro's int8 requantization, reproduced exactly (gemmlowp double rounding).

Every function here mirrors the integer code in TFLite Micro's `common.h` / gemmlowp's
`fixedpoint.h`, so the numpy reference executor and the C kernels can be checked against
each other bit for bit. Vectorised functions accept int64 numpy arrays (values must fit
in int32 where TFLM uses int32).
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def quantize_multiplier(real_multiplier: float) -> tuple[int, int]:
    """Return (q, shift) with real_multiplier ~= q * 2**(shift - 31), as TFLM's QuantizeMultiplier.

    q is a Q31 fixed-point value in [2**30, 2**31); shift > 0 means a left shift.
    Multipliers too small to represent (shift < -31) become (0, 0), exactly like TFLM.
    """
    if real_multiplier == 0.0:
        return 0, 0
    frac, shift = math.frexp(real_multiplier)
    # TfLiteRound is std::round: half away from zero (Python's round() is half-to-even).
    q = int(math.copysign(math.floor(abs(frac) * 2**31 + 0.5), frac))
    if q == 2**31:
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        return INT32_MAX, 30
    return q, shift


def saturating_rounding_doubling_high_mul(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 values held in int64 arrays."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    total = ab + nudge
    # C integer division truncates toward zero; numpy's // floors.
    high = np.where(total >= 0, total // (1 << 31), -((-total) // (1 << 31)))
    return np.where(overflow, INT32_MAX, high).astype(np.int64)


def rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT: x / 2**exponent rounded to nearest, ties away from zero."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(
    acc: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int
) -> np.ndarray:
    """TFLM MultiplyByQuantizedMultiplier (double-rounding build) on int32 accumulators."""
    acc = np.asarray(acc, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    # TFLM shifts in int32 arithmetic; wrap exactly like the C code does.
    shifted = ((acc << left) + 2**31) % 2**32 - 2**31
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right)


def requantize_to_int8(
    acc: np.ndarray,
    multiplier: np.ndarray | int,
    shift: np.ndarray | int,
    output_zero_point: int,
    activation_min: int = -128,
    activation_max: int = 127,
) -> np.ndarray:
    """Scale an int32 accumulator to int8: requantize, add the output zero point, clamp."""
    out = multiply_by_quantized_multiplier(acc, multiplier, shift) + output_zero_point
    return np.clip(out, activation_min, activation_max).astype(np.int8)
