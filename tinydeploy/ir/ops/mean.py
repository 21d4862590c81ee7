"""MEAN over H and W of an int8 NHWC tensor (global average pooling; what the TFLite
converter emits for keras GlobalAveragePooling2D), exactly as TFLM's int8 reduce kernel.

TFLM's reference_ops::QuantizedMeanOrSum: (multiplier, shift) = QuantizeMultiplier(
double(s_in) / double(s_out)), adapted to include 1/count: k = min(floor(log2 count), 32,
31 + shift), multiplier = (multiplier << k) / count (int64, truncating), shift -= k; then
out = clamp(MultiplyByQuantizedMultiplier(sum - zp_in * count, multiplier, shift) + zp_out).
Older TFLM sources divide the raw sum by the count (truncating) when input and output are
quantized alike; the TFLM this project tests against (tflite-micro 0.dev20261023) takes the
requantising path there too (tests/export/test_mobilenet_block_ops.py checks both cases).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinydeploy.errors import ExportError
from tinydeploy.ir.ops import register
from tinydeploy.ir.ops.base import CEmitter, EmitCall, OpDef, ReadContext
from tinydeploy.quant.fixedpoint import quantize_multiplier, requantize_to_int8


@dataclass
class Mean:
    """MEAN over axes 1 and 2 (H, W) of a 4-D int8 NHWC tensor; output [1, 1, 1, C]
    (keep_dims) or [1, C]."""

    name: str
    input: str
    output: str
    count: int  # H * W, the number of values averaged per channel
    input_zero_point: int
    multiplier: int  # includes 1 / count (see the module docstring)
    shift: int
    output_zero_point: int
    kind: str = field(default="MEAN", init=False)


def mean_multiplier(input_scale: float, output_scale: float, count: int) -> tuple[int, int]:
    """TFLM's (multiplier, shift) for the mean of `count` values, 1/count included."""
    mult, shift = quantize_multiplier(float(np.float32(input_scale)) /
                                      float(np.float32(output_scale)))
    k = min(count.bit_length() - 1, 32, 31 + shift)
    return int((mult << k) // count), shift - k


@register
class MeanDef(OpDef[Mean]):
    kind = "MEAN"
    short = "mean"

    def read(self, ctx: ReadContext) -> Mean:
        what = f"{ctx.source}: {ctx.name} (MEAN)"
        tin, tout = ctx.tin, ctx.tout
        axes = ctx.reader.constant(ctx.ins[1])
        if axes is None:
            raise ExportError(f"{what}: non-constant axes are not supported")
        rank = len(tin.shape)
        resolved = sorted({int(a) + rank if a < 0 else int(a) for a in axes.reshape(-1)})
        if rank != 4 or resolved != [1, 2]:
            raise ExportError(
                f"{what}: only the mean over H and W (axes 1 and 2) of a 4-D NHWC tensor is "
                f"supported (global average pooling); this one reduces axes "
                f"{axes.reshape(-1).tolist()} of a {rank}-D tensor {list(tin.shape)}")
        c = tin.shape[3]
        if tout.shape not in ((1, 1, 1, c), (1, c)):
            raise ExportError(f"{what}: shape mismatch {tin.shape} -> {tout.shape}")
        count = tin.shape[1] * tin.shape[2]
        mult, shift = mean_multiplier(tin.scale, tout.scale, count)
        return Mean(name=ctx.name, input=ctx.x, output=ctx.y, count=count,
                    input_zero_point=tin.zero_point, multiplier=mult, shift=shift,
                    output_zero_point=tout.zero_point)

    def reference(self, op: Mean, inputs, out_shape) -> np.ndarray:
        (x,) = inputs
        total = x.astype(np.int64).sum(axis=(1, 2))  # (B, C)
        out = requantize_to_int8(total - op.input_zero_point * op.count, op.multiplier,
                                 op.shift, op.output_zero_point)
        return out.reshape((len(x), *out_shape[1:]))

    def emit_c(self, em: CEmitter, call: EmitCall) -> list[str]:
        """td_mean_s8: per channel over the H * W positions."""
        op, p, g = call.layer.op, call.p, em.g
        em.decls.append(
            f"static const td_mean_params {p}_params = {{\n    .input_offset = "
            f"{-op.input_zero_point}, .multiplier = {op.multiplier}, "
            f".shift = {op.shift}, .output_offset = {op.output_zero_point}}};\n"
            f"static const td_dims {p}_input_dims = {em.dims(g.tensors[op.input].shape)};\n")
        return [f"    st = td_mean_s8(&{p}_params, &{p}_input_dims, {call.ins[0]}, {call.out});"]
