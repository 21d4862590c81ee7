"""int8 HARD_SWISH exactly as TFLite Micro computes it (reference_ops::HardSwish<int8_t>).

x * relu6(x + 3) / 6 in 16-bit fixed point: the input on a "hires" scale (x - zp) * 2^7; the
output-scale product by an int16 multiplier; a "reluish" factor in [0, 1] from the input
rescaled so that 3.0 is 2^15 (saturating), and the two multiplied (SaturatingDoublingHighMul),
then shifted to the output scale. Prepare-time scales are float32 as in TFLM's
HardSwishPrepare; multipliers go through QuantizeMultiplier + DownScaleInt32ToInt16Multiplier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydeploy.errors import ExportError
from tinydeploy.quant.fixedpoint import quantize_multiplier

I16_MIN, I16_MAX = -(2**15), 2**15 - 1


@dataclass(frozen=True)
class HardSwishParams:
    input_zero_point: int
    output_zero_point: int
    reluish_multiplier_fixedpoint_int16: int
    reluish_multiplier_exponent: int
    output_multiplier_fixedpoint_int16: int
    output_multiplier_exponent: int


def _downscale_to_int16(m: int) -> int:
    """TFLM DownScaleInt32ToInt16Multiplier."""
    if m >= 2**31 - 1 - (1 << 15):
        return I16_MAX
    return (m + (1 << 15)) >> 16


def hard_swish_params(input_scale: float, input_zero_point: int, output_scale: float,
                      output_zero_point: int) -> HardSwishParams:
    f32 = np.float32
    hires_input_scale = f32(1.0 / 128.0) * f32(input_scale)
    reluish_scale = f32(3.0) / f32(32768.0)
    output_multiplier = hires_input_scale / f32(output_scale)
    om, oe = quantize_multiplier(float(output_multiplier))
    if oe > 0:
        raise ExportError(f"HARD_SWISH: output scale {output_scale:g} is too small for the "
                          f"input scale {input_scale:g} (TFLite Micro requires an output "
                          "multiplier exponent <= 0)")
    rm, re = quantize_multiplier(float(hires_input_scale / reluish_scale))
    return HardSwishParams(input_zero_point, output_zero_point, _downscale_to_int16(rm), re,
                           _downscale_to_int16(om), oe)


def _trunc_div(a: np.ndarray, d: int) -> np.ndarray:
    """C integer division (toward zero)."""
    return np.where(a >= 0, a // d, -((-a) // d))


def _srdhm16(a: np.ndarray, b: int) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul for int16."""
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    out = _trunc_div(ab + nudge, 1 << 15)
    return np.where((a == b) & (a == I16_MIN), I16_MAX, _wrap16(out))


def _sdhm16(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """TFLM SaturatingDoublingHighMul (int16, truncating)."""
    out = _trunc_div(a * b, 1 << 15)
    return np.where((a == b) & (a == I16_MIN), I16_MAX, _wrap16(out))


def _wrap16(x: np.ndarray) -> np.ndarray:
    return (np.asarray(x, dtype=np.int64) + 2**15) % 2**16 - 2**15


def _saturating_left_shift16(x: np.ndarray, amount: int) -> np.ndarray:
    return np.clip(x * (1 << amount), I16_MIN, I16_MAX)


def _rdbp16(x: np.ndarray, exponent: int) -> np.ndarray:
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def hard_swish_int8(x: np.ndarray, p: HardSwishParams) -> np.ndarray:
    v = _wrap16(np.asarray(x, dtype=np.int64) - p.input_zero_point)
    hires = _wrap16(v * (1 << 7))
    preshift_out = _srdhm16(hires, p.output_multiplier_fixedpoint_int16)
    reluish = hires
    if p.reluish_multiplier_exponent > 0:
        reluish = _saturating_left_shift16(reluish, p.reluish_multiplier_exponent - 1)
    reluish = _srdhm16(reluish, p.reluish_multiplier_fixedpoint_int16)
    if p.reluish_multiplier_exponent > 0:
        reluish = _saturating_left_shift16(reluish, 1)
    if p.reluish_multiplier_exponent < 0:
        reluish = _rdbp16(reluish, -p.reluish_multiplier_exponent)
    reluish = _wrap16((reluish + (1 << 15)) >> 1)
    pre = _sdhm16(reluish, preshift_out)
    out = _wrap16(_rdbp16(pre, -p.output_multiplier_exponent) + p.output_zero_point)
    return np.clip(out, -128, 127).astype(np.int8)
