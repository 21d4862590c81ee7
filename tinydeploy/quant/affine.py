"""TFLite Micro's QUANTIZE and DEQUANTIZE arithmetic at a model's float / uint8 edges.

- float32 -> int8 (reference_ops::AffineQuantize): q = clamp(round(x / scale) + zp), the
  division in float32 and `round` = std::round (half away from zero).
- int8 -> float32 (reference_ops::Dequantize): (q - zp) * scale, taken in double and cast to
  float. The exact product of a float32 scale (24-bit mantissa) and |q - zp| <= 255 fits in a
  double, so rounding it once to float32 equals one float32 multiply: the C kernel and this
  module multiply in float32.
- 8-bit -> 8-bit (int8 <-> uint8, int8 -> int8; reference_ops::Requantize): q_out =
  clamp(MultiplyByQuantizedMultiplier(q - zp_in, M, shift) + zp_out), with M and shift from
  QuantizeMultiplier(double(s_in) / double(s_out)).
"""

from __future__ import annotations

import numpy as np

from tinydeploy.quant.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier

#: the integer range of each 8-bit activation type
QRANGE = {"int8": (-128, 127), "uint8": (0, 255)}


def round_half_away(x: np.ndarray) -> np.ndarray:
    """std::round of float32 values, exactly (float64 holds |x| + 0.5 without rounding)."""
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def affine_quantize(x: np.ndarray, scale: float, zero_point: int,
                    out_dtype: str = "int8") -> np.ndarray:
    """float32 -> int8/uint8 as TFLM's AffineQuantize."""
    lo, hi = QRANGE[out_dtype]
    with np.errstate(over="ignore"):  # a huge x / tiny scale is inf, then clamped
        q = np.asarray(x, dtype=np.float32) / np.float32(scale)  # float32 division, as TFLM
    # Clamped before the int cast: TFLM's cast of a quotient outside int32 is undefined
    # (its x86 build then gives the minimum, an Arm core saturates); here it saturates.
    r = np.clip(round_half_away(q), lo - zero_point, hi - zero_point)
    return (r.astype(np.int64) + zero_point).astype(out_dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """int8/uint8 -> float32 as TFLM's Dequantize."""
    d = (np.asarray(q, dtype=np.int64) - zero_point).astype(np.float32)
    return d * np.float32(scale)


def requantize_params(input_scale: float, output_scale: float) -> tuple[int, int]:
    """(multiplier, shift) of TFLM's Requantize: double(s_in) / double(s_out)."""
    return quantize_multiplier(float(np.float32(input_scale)) / float(np.float32(output_scale)))


def requantize(q: np.ndarray, input_zero_point: int, multiplier: int, shift: int,
               output_zero_point: int, out_dtype: str = "int8") -> np.ndarray:
    """8-bit -> 8-bit as TFLM's Requantize (its int8 <-> uint8 XOR fast path gives the same
    bytes: it applies only when the multiplier is exactly 1)."""
    lo, hi = QRANGE[out_dtype]
    acc = np.asarray(q, dtype=np.int64) - input_zero_point
    out = multiply_by_quantized_multiplier(acc, multiplier, shift) + output_zero_point
    return np.clip(out, lo, hi).astype(out_dtype)
