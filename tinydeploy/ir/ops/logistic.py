"""LOGISTIC (sigmoid), int8 -> int8, TFLM's fixed-point arithmetic (`tinydeploy.quant.logistic`);
in C a 256-entry table of it (`bytemap`, tdnn's td_lut_s8)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tinydeploy.ir.ops import register
from tinydeploy.ir.ops.base import CEmitter, EmitCall, OpDef, ReadContext
from tinydeploy.ir.ops.bytemap import byte_table, emit_table_lookup
from tinydeploy.ir.ops.common import fixed_output_quant, same_shape
from tinydeploy.quant.logistic import (
    OUTPUT_SCALE,
    OUTPUT_ZERO_POINT,
    LogisticParams,
    logistic_int8,
    logistic_params,
)


@dataclass
class Logistic:
    """int8 LOGISTIC (output scale 1/256, zero point -128) with TFLM's prepared parameters."""

    name: str
    input: str
    output: str
    input_zero_point: int
    input_range_radius: int
    input_multiplier: int
    input_left_shift: int
    kind: str = field(default="LOGISTIC", init=False)

    @property
    def params(self) -> LogisticParams:
        return LogisticParams(self.input_zero_point, self.input_range_radius,
                              self.input_multiplier, self.input_left_shift)


@register
class LogisticDef(OpDef[Logistic]):
    kind = "LOGISTIC"
    short = "logistic"

    def read(self, ctx: ReadContext) -> Logistic:
        same_shape(ctx)
        fixed_output_quant(ctx, "LOGISTIC", OUTPUT_SCALE, OUTPUT_ZERO_POINT, "1/256")
        p = logistic_params(ctx.tin.scale, ctx.tin.zero_point)
        return Logistic(name=ctx.name, input=ctx.x, output=ctx.y,
                        input_zero_point=p.input_zero_point,
                        input_range_radius=p.input_range_radius,
                        input_multiplier=p.input_multiplier,
                        input_left_shift=p.input_left_shift)

    def reference(self, op: Logistic, inputs, out_shape):
        (x,) = inputs
        return logistic_int8(x, op.params)

    def emit_c(self, em: CEmitter, call: EmitCall) -> list[str]:
        op = call.layer.op
        return emit_table_lookup(em, call, byte_table(lambda v: logistic_int8(v, op.params),
                                                      "int8"))
