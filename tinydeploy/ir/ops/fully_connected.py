"""FULLY_CONNECTED: int8 matrix-vector product over the flattened input."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinydeploy.errors import ExportError
from tinydeploy.ir.ops import register
from tinydeploy.ir.ops.base import CEmitter, EmitCall, OpDef, ReadContext
from tinydeploy.ir.ops.common import read_weights, requantize
from tinydeploy.ir.prepare import activation_range, fc_multipliers


@dataclass
class FullyConnected:
    """FULLY_CONNECTED. weights int8 [out, in]; bias int32 [out]; multiplier/shift per output
    (per-tensor models repeat one value)."""

    name: str
    input: str
    output: str
    weights: np.ndarray
    bias: np.ndarray
    weight_scales: np.ndarray
    multiplier: np.ndarray
    shift: np.ndarray
    input_zero_point: int
    output_zero_point: int
    act_min: int
    act_max: int
    kind: str = field(default="FULLY_CONNECTED", init=False)


@register
class FullyConnectedDef(OpDef[FullyConnected]):
    kind = "FULLY_CONNECTED"
    short = "fc"
    weighted = True

    def read(self, ctx: ReadContext) -> FullyConnected:
        o = ctx.options("FullyConnectedOptions")
        if o is not None and o.WeightsFormat() != 0:
            raise ExportError(
                f"{ctx.source}: {ctx.name}: shuffled FULLY_CONNECTED weights unsupported")
        w, bias, scales, raw_scales = read_weights(ctx.reader, ctx.ins, ctx.name, 2, 0)
        tin, tout = ctx.tin, ctx.tout
        # the per-tensor multiplier is computed from the raw scale, not the repeated one
        mult, shift = fc_multipliers(tin.scale, raw_scales, tout.scale, w.shape[0])
        fused = o.FusedActivationFunction() if o is not None else 0
        lo, hi = activation_range(fused, tout.scale, tout.zero_point)
        return FullyConnected(name=ctx.name, input=ctx.x, output=ctx.y, weights=w, bias=bias,
                              weight_scales=scales, multiplier=mult, shift=shift,
                              input_zero_point=tin.zero_point,
                              output_zero_point=tout.zero_point, act_min=lo, act_max=hi)

    def check_shapes(self, op: FullyConnected, graph) -> None:
        tin, tout = graph.tensors[op.input].shape, graph.tensors[op.output].shape
        rows, cols = op.weights.shape
        if int(np.prod(tin[1:])) != cols or tout[-1] != rows or len(op.bias) != rows:
            raise ExportError(f"{op.name}: shape mismatch: input {tin}, weights "
                              f"{op.weights.shape}, output {tout}")

    def reference(self, op: FullyConnected, inputs, out_shape) -> np.ndarray:
        (x,) = inputs
        xo = x.reshape(len(x), -1).astype(np.float64) - op.input_zero_point
        acc = (xo @ op.weights.astype(np.float64).T).astype(np.int64) + op.bias.astype(np.int64)
        return requantize(op, acc).reshape((len(x), *out_shape[1:]))

    def emit_c(self, em: CEmitter, call: EmitCall) -> list[str]:
        """td_fc_<kernel>_s8 of the layer's weight format."""
        op, p, layer = call.layer.op, call.p, call.layer
        em.decls.append(
            f"static const td_fc_params {p}_params = {{.input_offset = "
            f"{-op.input_zero_point}, .output_offset = {op.output_zero_point},\n"
            f"    .activation = {{.min = {op.act_min}, .max = {op.act_max}}}}};\n")
        em.quant_arrays(p, op)
        wa = em.weight_args(p, layer)
        rows, k = op.weights.shape
        size_args = f"{k}, {wa.weights}" if wa.sized_by_descriptor else f"{k}, {rows}"
        return [f"    if (td_fc_{wa.kernel}_s8_get_buffer_size({size_args}) > "
                f"{layer.scratch}) {call.fail}",
                f"    st = td_fc_{wa.kernel}_s8(&{p}_params, &{p}_quant, {k}, {call.ins[0]}, "
                f"{rows}, {wa.weights}, {p}_bias, {call.out}, {call.scratch});"]

