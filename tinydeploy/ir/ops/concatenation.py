"""CONCATENATION of int8 tensors along any axis (TFLM's int8 kernel copies bytes).

TFLite Micro's int8 CONCATENATION never requantizes: it copies the input bytes whatever
their scales (the TFLite converter gives every input the output's scale and zero point).
An input quantized unlike the output would make that copy mean something else, so it is
an ExportError here rather than a silently different model."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinydeploy.errors import ExportError
from tinydeploy.ir.ops import register
from tinydeploy.ir.ops.base import CEmitter, EmitCall, OpDef, ReadContext


@dataclass
class Concatenation:
    """CONCATENATION along `axis` (>= 0) of `input` and `others`, in that order."""

    name: str
    input: str
    others: list[str]
    output: str
    axis: int
    kind: str = field(default="CONCATENATION", init=False)


@register
class ConcatenationDef(OpDef[Concatenation]):
    kind = "CONCATENATION"
    short = "concat"

    def read(self, ctx: ReadContext) -> Concatenation:
        what = f"{ctx.source}: {ctx.name} (CONCATENATION)"
        o = ctx.options("ConcatenationOptions")
        if o is not None and o.FusedActivationFunction() != 0:
            raise ExportError(f"{what}: a fused activation is not supported (TFLite Micro "
                              "accepts none)")
        if any(ctx.reader.constant(i) is not None for i in ctx.ins):
            raise ExportError(f"{what}: constant inputs are not supported")
        others = [ctx.act(i) for i in ctx.ins[1:]]
        keys = [ctx.x, *others]
        tout = ctx.tout
        rank = len(tout.shape)
        axis = int(o.Axis()) if o is not None else 0
        axis = axis + rank if axis < 0 else axis
        if not 0 < axis < rank:
            raise ExportError(f"{what}: axis {axis} is not supported for rank {rank} (the "
                              "batch axis 0 or out of range)")
        for key in keys:
            t = ctx.tensors[key]
            if np.float32(t.scale) != np.float32(tout.scale) or t.zero_point != tout.zero_point:
                raise ExportError(
                    f"{what}: input {t.name!r} is quantized (scale {t.scale:g}, zero point "
                    f"{t.zero_point}) unlike the output (scale {tout.scale:g}, zero point "
                    f"{tout.zero_point}); TFLite Micro's int8 CONCATENATION copies bytes "
                    "without requantising, so inputs must share the output's quantization")
            shape = t.shape
            if len(shape) != rank or any(a != b for d, (a, b) in
                                         enumerate(zip(shape, tout.shape, strict=True))
                                         if d != axis):
                raise ExportError(f"{what}: input shape {list(shape)} does not fit the "
                                  f"output {list(tout.shape)} along axis {axis}")
        if sum(ctx.tensors[k].shape[axis] for k in keys) != tout.shape[axis]:
            raise ExportError(f"{what}: the inputs' sizes along axis {axis} do not add up "
                              f"to the output's {tout.shape[axis]}")
        return Concatenation(name=ctx.name, input=ctx.x, others=others, output=ctx.y,
                             axis=axis)

    def inputs(self, op: Concatenation) -> list[str]:
        return [op.input, *op.others]

    def reference(self, op: Concatenation, inputs, out_shape) -> np.ndarray:
        return np.concatenate(inputs, axis=op.axis)  # batch first in both: same axis

    def emit_c(self, em: CEmitter, call: EmitCall) -> list[str]:
        """td_concat_s8: per outer index (the dims before the axis), one block per input."""
        op, p, g = call.layer.op, call.p, em.g
        out_shape = g.tensors[op.output].shape
        outer = int(np.prod(out_shape[:op.axis], dtype=np.int64))
        blocks = [int(np.prod(g.tensors[k].shape[op.axis:], dtype=np.int64))
                  for k in self.inputs(op)]
        em.decls.append(em.array(f"{p}_block_sizes", "int32_t", np.array(blocks, np.int32)))
        return ["    {",
                f"        const int8_t *const {p}_inputs[{len(blocks)}] = "
                f"{{{', '.join(call.ins)}}};",
                f"        st = td_concat_s8({p}_inputs, {p}_block_sizes, {len(blocks)}, "
                f"{outer}, {call.out});",
                "    }"]
