"""SOFTMAX over the last axis, int8 -> int8, in TFLM's gemmlowp fixed point
(`tinydeploy.quant.softmax`; on the C side tdnn's td_softmax_s8, the same arithmetic)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinydeploy.ir.ops import register
from tinydeploy.ir.ops.base import CEmitter, EmitCall, OpDef, ReadContext
from tinydeploy.ir.ops.common import fixed_output_quant, same_shape
from tinydeploy.quant.softmax import (
    OUTPUT_SCALE,
    OUTPUT_ZERO_POINT,
    SoftmaxParams,
    softmax_int8,
    softmax_params,
)


@dataclass
class Softmax:
    """SOFTMAX over the last axis, int8 -> int8 (output scale 1/256, zero point -128), with
    TFLM's precomputed beta * input_scale multiplier and the smallest difference that counts."""

    name: str
    input: str
    output: str
    beta: float
    input_multiplier: int
    input_left_shift: int
    diff_min: int
    kind: str = field(default="SOFTMAX", init=False)


@register
class SoftmaxDef(OpDef[Softmax]):
    kind = "SOFTMAX"
    short = "softmax"

    def read(self, ctx: ReadContext) -> Softmax:
        o = ctx.options("SoftmaxOptions")
        beta = float(o.Beta()) if o else 1.0
        same_shape(ctx)
        fixed_output_quant(ctx, "SOFTMAX", OUTPUT_SCALE, OUTPUT_ZERO_POINT, "1/256")
        params = softmax_params(beta, float(np.float32(ctx.tin.scale)))
        return Softmax(name=ctx.name, input=ctx.x, output=ctx.y, beta=beta,
                       input_multiplier=params.input_multiplier,
                       input_left_shift=params.input_left_shift, diff_min=params.diff_min)

    def reference(self, op: Softmax, inputs, out_shape) -> np.ndarray:
        (x,) = inputs
        return softmax_int8(x, SoftmaxParams(op.input_multiplier, op.input_left_shift,
                                             op.diff_min))

    def emit_c(self, em: CEmitter, call: EmitCall) -> list[str]:
        """td_softmax_s8 over the last axis: rows = the product of all other dims."""
        op, p = call.layer.op, call.p
        shape = em.g.tensors[op.input].shape
        depth = int(shape[-1])
        rows = int(np.prod(shape[:-1], dtype=np.int64))
        em.decls.append(
            f"static const td_softmax_params {p}_params = {{\n    .input_multiplier = "
            f"{op.input_multiplier}, .input_left_shift = {op.input_left_shift}, "
            f".diff_min = {op.diff_min}}};\n")
        return [f"    st = td_softmax_s8(&{p}_params, {call.ins[0]}, {call.out}, {rows}, "
                f"{depth});"]
