"""QUANTIZE at a model's edges and between int8 tensors, as TFLite Micro computes it
(`tinydeploy.quant.affine`): float32 -> int8 (a converter model with float input), uint8 ->
int8 / int8 -> uint8 (uint8 input / output) and int8 -> int8 (requantize). In C: float input
through tdnn's td_quantize_f32_s8; 8-bit input as a 256-entry table (`bytemap`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinydeploy.errors import ExportError
from tinydeploy.ir.ops import register
from tinydeploy.ir.ops.base import CEmitter, EmitCall, OpDef, ReadContext
from tinydeploy.ir.ops.bytemap import byte_table, c_float, emit_table_lookup
from tinydeploy.ir.ops.common import same_shape
from tinydeploy.quant.affine import affine_quantize, requantize, requantize_params

# (input dtype, output dtype) pairs; TFLM supports these (and wider types tinydeploy lacks)
SUPPORTED = (("float32", "int8"), ("uint8", "int8"), ("int8", "uint8"), ("int8", "int8"))


@dataclass
class Quantize:
    """QUANTIZE from `in_dtype` to `out_dtype`. From float32: q = clamp(round(x / scale) +
    zero_point); from 8 bits: TFLM's Requantize with multiplier/shift (s_in / s_out)."""

    name: str
    input: str
    output: str
    in_dtype: str
    out_dtype: str
    scale: float  # output scale (float32 input: the divisor)
    zero_point: int  # output zero point
    input_zero_point: int
    multiplier: int  # 8-bit input only (0 otherwise)
    shift: int
    kind: str = field(default="QUANTIZE", init=False)


@register
class QuantizeDef(OpDef[Quantize]):
    kind = "QUANTIZE"
    short = "quantize"
    edge_dtypes = True

    def read(self, ctx: ReadContext) -> Quantize:
        tin, tout = ctx.tin, ctx.tout
        if (tin.dtype, tout.dtype) not in SUPPORTED:
            raise ExportError(
                f"{ctx.source}: {ctx.name}: QUANTIZE {tin.dtype} -> {tout.dtype} is not "
                f"supported; supported: {', '.join(f'{a} -> {b}' for a, b in SUPPORTED)}")
        same_shape(ctx)
        mult, shift = (0, 0) if tin.dtype == "float32" else requantize_params(tin.scale,
                                                                               tout.scale)
        return Quantize(ctx.name, ctx.x, ctx.y, tin.dtype, tout.dtype,
                        float(np.float32(tout.scale)), tout.zero_point, tin.zero_point,
                        mult, shift)

    def reference(self, op: Quantize, inputs, out_shape) -> np.ndarray:
        (x,) = inputs
        if op.in_dtype == "float32":
            return affine_quantize(x, op.scale, op.zero_point, op.out_dtype)
        return requantize(x, op.input_zero_point, op.multiplier, op.shift, op.zero_point,
                          op.out_dtype)

    def emit_c(self, em: CEmitter, call: EmitCall) -> list[str]:
        op, p = call.layer.op, call.p
        if op.in_dtype != "float32":
            return emit_table_lookup(em, call, byte_table(
                lambda v: self.reference(op, [v], ()), op.in_dtype))
        em.decls.append(f"static const td_quantize_params {p}_params = {{.scale = "
                        f"{c_float(op.scale)}, .zero_point = "
                        f"{op.zero_point}}};\n")
        size = em.g.tensors[op.output].size
        return [f"    st = td_quantize_f32_s8(&{p}_params, {call.ins[0]}, {call.out}, "
                f"{size});"]
