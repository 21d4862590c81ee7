"""DEQUANTIZE int8 -> float32 at a model's output, as TFLite Micro computes it
((q - zero_point) * scale; `tinydeploy.quant.affine`). In C: tdnn's td_dequantize_s8_f32."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinydeploy.errors import ExportError
from tinydeploy.ir.ops import register
from tinydeploy.ir.ops.base import CEmitter, EmitCall, OpDef, ReadContext
from tinydeploy.ir.ops.bytemap import c_float
from tinydeploy.ir.ops.common import same_shape
from tinydeploy.quant.affine import dequantize


@dataclass
class Dequantize:
    """DEQUANTIZE int8 -> float32 with the input's scale (float32) and zero point."""

    name: str
    input: str
    output: str
    scale: float
    zero_point: int
    kind: str = field(default="DEQUANTIZE", init=False)


@register
class DequantizeDef(OpDef[Dequantize]):
    kind = "DEQUANTIZE"
    short = "dequantize"
    edge_dtypes = True

    def read(self, ctx: ReadContext) -> Dequantize:
        tin, tout = ctx.tin, ctx.tout
        if (tin.dtype, tout.dtype) != ("int8", "float32"):
            raise ExportError(f"{ctx.source}: {ctx.name}: DEQUANTIZE {tin.dtype} -> "
                              f"{tout.dtype} is not supported; supported: int8 -> float32")
        same_shape(ctx)
        return Dequantize(ctx.name, ctx.x, ctx.y, float(np.float32(tin.scale)),
                          tin.zero_point)

    def reference(self, op: Dequantize, inputs, out_shape) -> np.ndarray:
        (x,) = inputs
        return dequantize(x, op.scale, op.zero_point)

    def emit_c(self, em: CEmitter, call: EmitCall) -> list[str]:
        op, p = call.layer.op, call.p
        em.decls.append(f"static const td_dequantize_params {p}_params = {{.scale = "
                        f"{c_float(op.scale)}, .zero_point = "
                        f"{op.zero_point}}};\n")
        size = em.g.tensors[op.output].size
        return [f"    st = td_dequantize_s8_f32(&{p}_params, {call.ins[0]}, {call.out}, "
                f"{size});"]
