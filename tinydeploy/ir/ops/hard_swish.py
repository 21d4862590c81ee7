"""HARD_SWISH, int8 -> int8, TFLM's reference 16-bit fixed point
(`tinydeploy.quant.hard_swish`); in C a 256-entry table of it (`bytemap`, td_lut_s8)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tinydeploy.errors import ExportError
from tinydeploy.ir.ops import register
from tinydeploy.ir.ops.base import CEmitter, EmitCall, OpDef, ReadContext
from tinydeploy.ir.ops.bytemap import byte_table, emit_table_lookup
from tinydeploy.ir.ops.common import same_shape
from tinydeploy.quant.hard_swish import HardSwishParams, hard_swish_int8, hard_swish_params


@dataclass
class HardSwish:
    """int8 HARD_SWISH with TFLM's HardSwishParams."""

    name: str
    input: str
    output: str
    input_zero_point: int
    output_zero_point: int
    reluish_multiplier_fixedpoint_int16: int
    reluish_multiplier_exponent: int
    output_multiplier_fixedpoint_int16: int
    output_multiplier_exponent: int
    kind: str = field(default="HARD_SWISH", init=False)

    @property
    def params(self) -> HardSwishParams:
        return HardSwishParams(self.input_zero_point, self.output_zero_point,
                               self.reluish_multiplier_fixedpoint_int16,
                               self.reluish_multiplier_exponent,
                               self.output_multiplier_fixedpoint_int16,
                               self.output_multiplier_exponent)


@register
class HardSwishDef(OpDef[HardSwish]):
    kind = "HARD_SWISH"
    short = "hardswish"

    def read(self, ctx: ReadContext) -> HardSwish:
        same_shape(ctx)
        tin, tout = ctx.tin, ctx.tout
        try:
            p = hard_swish_params(tin.scale, tin.zero_point, tout.scale, tout.zero_point)
        except ExportError as exc:
            raise ExportError(f"{ctx.source}: {ctx.name}: {exc}") from None
        return HardSwish(ctx.name, ctx.x, ctx.y, p.input_zero_point, p.output_zero_point,
                         p.reluish_multiplier_fixedpoint_int16, p.reluish_multiplier_exponent,
                         p.output_multiplier_fixedpoint_int16, p.output_multiplier_exponent)

    def reference(self, op: HardSwish, inputs, out_shape):
        (x,) = inputs
        return hard_swish_int8(x, op.params)

    def emit_c(self, em: CEmitter, call: EmitCall) -> list[str]:
        op = call.layer.op
        return emit_table_lookup(em, call, byte_table(lambda v: hard_swish_int8(v, op.params),
                                                      "int8"))
