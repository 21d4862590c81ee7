"""PAD and PADV2 with constant paddings, int8 (TFLM's reference Pad): the padded cells hold
the output zero point (PAD) or PADV2's constant value; the quantization is unchanged.

`tinydeploy.ir.transforms.fold_pads` folds a zero-point PAD in front of a convolution into
the convolution's explicit padding; the others run tdnn's td_pad_s8."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydeploy.errors import ExportError
from tinydeploy.ir.ops import register
from tinydeploy.ir.ops.base import CEmitter, EmitCall, OpDef, ReadContext
from tinydeploy.ir.ops.common import same_quant


@dataclass
class Pad:
    """PAD / PADV2 of an activation of rank <= 4, seen as NHWC (lower ranks get leading
    1-dims): (before, after) cells per dim; the batch dim is never padded."""

    name: str
    input: str
    output: str
    paddings: tuple[tuple[int, int], ...]  # 4 x (before, after), NHWC order
    value: int  # int8 of the padded cells
    kind: str = "PAD"  # or "PADV2" (one dataclass for both, like Pool2D)


def nhwc(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """A shape of rank <= 4 as 4 dims (leading 1s), the way TFLM's kernels extend it."""
    return (1,) * (4 - len(shape)) + tuple(int(s) for s in shape)  # type: ignore[return-value]


class _PadDef(OpDef[Pad]):
    def read(self, ctx: ReadContext) -> Pad:
        what = f"{ctx.source}: {ctx.name} ({self.kind})"
        same_quant(ctx)
        rank = len(ctx.tin.shape)
        if rank > 4:
            raise ExportError(f"{what}: inputs of rank {rank} are not supported (at most 4)")
        paddings = ctx.reader.constant(ctx.ins[1])
        if paddings is None:
            raise ExportError(f"{what}: non-constant paddings are not supported (the "
                              "paddings tensor must be a constant in the file)")
        if paddings.dtype not in (np.int32, np.int64) or paddings.shape != (rank, 2):
            raise ExportError(f"{what}: paddings must be an int32 [{rank}, 2] constant, got "
                              f"{paddings.dtype} {list(paddings.shape)}")
        if (paddings < 0).any():
            raise ExportError(f"{what}: negative paddings (cropping) are not supported")
        pads = [(0, 0)] * (4 - rank) + [(int(a), int(b)) for a, b in paddings]
        if pads[0] != (0, 0):
            raise ExportError(f"{what}: padding the batch dimension is not supported")
        value = self.pad_value(ctx, what)
        want = tuple(s + a + b for s, (a, b) in zip(nhwc(ctx.tin.shape), pads, strict=True))
        if nhwc(ctx.tout.shape) != want:
            raise ExportError(f"{what}: shape mismatch: input {ctx.tin.shape} padded by "
                              f"{pads} is not the output {ctx.tout.shape}")
        return Pad(name=ctx.name, input=ctx.x, output=ctx.y, paddings=tuple(pads), value=value,
                   kind=self.kind)

    def pad_value(self, ctx: ReadContext, what: str) -> int:
        return ctx.tout.zero_point  # TFLM: int8 PAD fills with the output zero point

    def reference(self, op: Pad, inputs, out_shape) -> np.ndarray:
        (x,) = inputs
        x4 = x.reshape((len(x), *nhwc(x.shape[1:])[1:]))
        out = np.pad(x4, ((0, 0), *op.paddings[1:]), constant_values=op.value)
        return out.reshape((len(x), *out_shape[1:]))

    def emit_c(self, em: CEmitter, call: EmitCall) -> list[str]:
        """td_pad_s8 over the NHWC view of the tensors."""
        op, p, g = call.layer.op, call.p, em.g
        (_, _), (top, bottom), (left, right), (front, back) = op.paddings
        em.decls.append(
            f"static const td_pad_params {p}_params = {{\n    .pad_top = {top}, .pad_bottom = "
            f"{bottom}, .pad_left = {left}, .pad_right = {right}, .pad_front = {front}, "
            f".pad_back = {back}, .pad_value = {op.value}}};\n"
            f"static const td_dims {p}_input_dims = "
            f"{em.dims(nhwc(g.tensors[op.input].shape))};\n")
        return [f"    st = td_pad_s8(&{p}_params, &{p}_input_dims, {call.ins[0]}, {call.out});"]


@register
class PadDef(_PadDef):
    kind = "PAD"
    short = "pad"


@register
class PadV2Def(_PadDef):
    kind = "PADV2"
    short = "padv2"

    def pad_value(self, ctx: ReadContext, what: str) -> int:
        if len(ctx.ins) < 3 or ctx.ins[2] < 0:
            return ctx.tout.zero_point
        value = ctx.reader.constant(ctx.ins[2])
        if value is None or value.dtype != np.int8 or value.size != 1:
            raise ExportError(f"{what}: the constant value must be one constant int8 "
                              "(non-constant pad values are not supported)")
        scale, zp = ctx.reader.quant(ctx.ins[2])
        if float(scale[0]) != ctx.tout.scale or int(zp[0]) != ctx.tout.zero_point:
            raise ExportError(f"{what}: the constant value is quantized unlike the output "
                              "(TFLite Micro requires the same scale and zero point)")
        return int(value.reshape(-1)[0])
