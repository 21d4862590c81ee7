"""TFLite Micro's prepare-time arithmetic: what TFLM computes from a flatbuffer before the
first invoke (requantization multipliers, fused-activation clamps, SAME padding).

Each function reproduces the float32/float64 steps of its TFLM counterpart, so the IR built
from these numbers executes bit-exactly. The op modules in `tinydeploy.ir.ops` call them;
`tinydeploy.ir.tflite_reader` re-exports them under their old names.
"""

from __future__ import annotations

import numpy as np

from tinydeploy.errors import ExportError
from tinydeploy.quant.fixedpoint import quantize_multiplier


def conv_multipliers(input_scale: float, weight_scales: np.ndarray,
                     output_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (multiplier, shift) as TFLM's PopulateConvolutionQuantizationParams:
    double(s_in) * double(s_w[c]) / double(s_out), each scale a float32 first."""
    s_in = float(np.float32(input_scale))
    s_out = float(np.float32(output_scale))
    pairs = [quantize_multiplier(s_in * float(np.float32(s)) / s_out) for s in weight_scales]
    return (np.array([p[0] for p in pairs], dtype=np.int32),
            np.array([p[1] for p in pairs], dtype=np.int32))


def fc_multipliers(input_scale: float, weight_scales: np.ndarray, output_scale: float,
                   out_features: int) -> tuple[np.ndarray, np.ndarray]:
    """FULLY_CONNECTED: per-channel filters as conv; a per-tensor filter as TFLM's
    GetQuantizedConvolutionMultipler, whose s_in * s_w product is taken in float32."""
    if len(weight_scales) > 1:
        return conv_multipliers(input_scale, weight_scales, output_scale)
    product = float(np.float32(input_scale) * np.float32(weight_scales[0]))
    q, shift = quantize_multiplier(product / float(np.float32(output_scale)))
    return (np.full(out_features, q, dtype=np.int32), np.full(out_features, shift, np.int32))


def activation_range(fused: int, scale: float, zero_point: int) -> tuple[int, int]:
    """TFLM CalculateActivationRangeQuantized for int8 (round(x / scale) in float32)."""
    def quantize(x: float) -> int:
        v = np.float32(x) / np.float32(scale)
        return zero_point + int(np.sign(v) * np.floor(np.abs(v) + np.float32(0.5)))

    if fused == 0:  # NONE
        return -128, 127
    if fused == 1:  # RELU
        return max(-128, quantize(0.0)), 127
    if fused == 2:  # RELU_N1_TO_1
        return max(-128, quantize(-1.0)), min(127, quantize(1.0))
    if fused == 3:  # RELU6
        return max(-128, quantize(0.0)), min(127, quantize(6.0))
    raise ExportError(
        f"unsupported fused activation type {fused} (only NONE/RELU/RELU6/RELU_N1_TO_1)")


def same_padding(in_size: int, filt: int, stride: int, dilation: int,
                 out_size: int) -> tuple[int, int]:
    """TFLM ComputePaddingHeightWidth for one dim: (before, after), after >= 0."""
    eff = (filt - 1) * dilation + 1
    total = max((out_size - 1) * stride + eff - in_size, 0)
    return total // 2, total - total // 2


def padding(mode: int, in_shape, out_shape, filt, stride) -> tuple[int, int, int, int]:
    """Explicit (top, left, bottom, right) padding of a spatial op from its flatbuffer
    padding mode (0 SAME, 1 VALID), as TFLM derives it from the tensor shapes."""
    if len(in_shape) != 4 or len(out_shape) != 4:
        raise ExportError(f"spatial op needs NHWC tensors, got {in_shape} -> {out_shape}")
    if mode == 1:  # VALID
        return (0, 0, 0, 0)
    top, bottom = same_padding(in_shape[1], filt[0], stride[0], 1, out_shape[1])
    left, right = same_padding(in_shape[2], filt[1], stride[1], 1, out_shape[2])
    return (top, left, bottom, right)
