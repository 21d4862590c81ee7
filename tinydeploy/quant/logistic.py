"""int8 LOGISTIC exactly as TFLite Micro computes it (reference_integer_ops::Logistic).

Prepare: the input scale times 2^27 (Q4.27 input) split by frexp into a Q31 multiplier and a
left shift; inputs further than `input_range_radius` from the zero point saturate. Eval:
x - zp rescaled to Q4.27 (MultiplyByQuantizedMultiplier), gemmlowp's fixed-point logistic
(exp on negative values, 1 / (1 + x)), Q0.31 -> output scale 1/256 with zero point -128.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinydeploy.errors import ExportError
from tinydeploy.quant.fixedpoint import (
    INT32_MAX,
    multiply_by_quantized_multiplier,
    rounding_divide_by_pot,
)
from tinydeploy.quant.softmax import _wrap, exp_on_negative_values, one_over_one_plus_x

INPUT_INTEGER_BITS = 4  # Q4.27 input to the fixed-point logistic
OUTPUT_SCALE = 1.0 / 256.0  # the int8 LOGISTIC output quantization TFLM requires
OUTPUT_ZERO_POINT = -128


@dataclass(frozen=True)
class LogisticParams:
    input_zero_point: int
    input_range_radius: int
    input_multiplier: int
    input_left_shift: int


def logistic_params(input_scale: float, input_zero_point: int) -> LogisticParams:
    """TFLM CalculateArithmeticOpDataLogistic for int8 (frexp, then CalculateInputRadius)."""
    real = float(np.float32(input_scale)) * float(1 << (31 - INPUT_INTEGER_BITS))
    q, left_shift = math.frexp(real)
    multiplier = int(math.copysign(math.floor(abs(q) * 2**31 + 0.5), q))
    if multiplier > INT32_MAX or left_shift > 31 or left_shift < -31:
        raise ExportError(f"LOGISTIC: input scale {input_scale:g} is outside the range of "
                          "TFLite Micro's int8 logistic")
    max_input_rescaled = (1.0 * ((1 << INPUT_INTEGER_BITS) - 1)
                          * (1 << (31 - INPUT_INTEGER_BITS)) / 2.0**left_shift)
    return LogisticParams(input_zero_point, math.floor(max_input_rescaled), multiplier,
                          left_shift)


def _logistic_q0(a: np.ndarray) -> np.ndarray:
    """gemmlowp logistic of Q4.27 values; Q0.31 result."""
    positive = a > 0
    abs_a = np.where(positive, a, _wrap(-a))
    on_positive = one_over_one_plus_x(exp_on_negative_values(_wrap(-abs_a), INPUT_INTEGER_BITS))
    result = np.where(positive, on_positive, _wrap(INT32_MAX - on_positive))
    return np.where(a == 0, 1 << 30, result)


def logistic_int8(x: np.ndarray, p: LogisticParams) -> np.ndarray:
    """int8 logistic, output scale 1/256 and zero point -128."""
    d = np.asarray(x, dtype=np.int64) - p.input_zero_point
    a = multiply_by_quantized_multiplier(d, p.input_multiplier, p.input_left_shift)
    q = rounding_divide_by_pot(_logistic_q0(a), 31 - 8) + OUTPUT_ZERO_POINT
    out = np.clip(q, -128, 127)
    # TFLM tests d <= -radius first (it wins when the radius is 0)
    out = np.where(d >= p.input_range_radius, 127, out)
    out = np.where(d <= -p.input_range_radius, -128, out)
    return out.astype(np.int8)
