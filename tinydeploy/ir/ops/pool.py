"""MAX_POOL_2D and AVERAGE_POOL_2D: one IR dataclass (`mode` tells them apart), one reader
and one shape check; TFLM semantics, padded cells never take part."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from tinydeploy.errors import ExportError
from tinydeploy.ir.ops import register
from tinydeploy.ir.ops.base import CEmitter, EmitCall, OpDef, ReadContext
from tinydeploy.ir.ops.common import pad, spatial_out, windows
from tinydeploy.ir.prepare import activation_range, padding


@dataclass
class Pool2D:
    """MAX_POOL_2D or AVERAGE_POOL_2D (TFLM semantics: padded cells excluded)."""

    name: str
    input: str
    output: str
    mode: str  # "max" or "avg"
    filter: tuple[int, int]  # (h, w)
    stride: tuple[int, int]
    padding: tuple[int, int, int, int]
    act_min: int
    act_max: int

    @property
    def kind(self) -> str:
        return "MAX_POOL_2D" if self.mode == "max" else "AVERAGE_POOL_2D"


class _Pool2DDef(OpDef[Pool2D]):
    mode: ClassVar[str]

    def read(self, ctx: ReadContext) -> Pool2D:
        o = ctx.options("Pool2DOptions")
        filt = (o.FilterHeight(), o.FilterWidth())
        stride = (o.StrideH(), o.StrideW())
        tin, tout = ctx.tin, ctx.tout
        if tin.scale != tout.scale or tin.zero_point != tout.zero_point:
            raise ExportError(f"{ctx.source}: {ctx.name}: pooling must keep the quantization")
        lo, hi = activation_range(o.FusedActivationFunction(), tout.scale, tout.zero_point)
        return Pool2D(name=ctx.name, input=ctx.x, output=ctx.y, mode=self.mode, filter=filt,
                      stride=stride,
                      padding=padding(o.Padding(), tin.shape, tout.shape, filt, stride),
                      act_min=lo, act_max=hi)

    def check_shapes(self, op: Pool2D, graph) -> None:
        tin, tout = graph.tensors[op.input].shape, graph.tensors[op.output].shape
        ho, wo = spatial_out(tin, op.padding, op.filter, op.stride)
        if tout != (tin[0], ho, wo, tin[3]):
            raise ExportError(f"{op.name}: shape mismatch: input {tin}, output {tout}")

    def reference(self, op: Pool2D, inputs, out_shape) -> np.ndarray:
        (x,) = inputs
        _, ho, wo, _ = out_shape
        return np.clip(self.pool(op, x, ho, wo), op.act_min, op.act_max).astype(np.int8)

    @abstractmethod
    def pool(self, op: Pool2D, x: np.ndarray, ho: int, wo: int) -> np.ndarray:
        """The unclamped (B, ho, wo, C) pool of the int8 input x."""

    def emit_c(self, em: CEmitter, call: EmitCall) -> list[str]:
        """td_maxpool_s8 / td_avgpool_s8."""
        op, p, g = call.layer.op, call.p, em.g
        pad = op.padding
        em.decls.append(
            f"static const td_pool_params {p}_params = {{\n    .stride_h = {op.stride[0]}, "
            f".stride_w = {op.stride[1]}, .filter_h = {op.filter[0]}, .filter_w = "
            f"{op.filter[1]}, .pad_top = {pad[0]}, .pad_left = {pad[1]},\n"
            f"    .activation = {{.min = {op.act_min}, .max = {op.act_max}}}}};\n"
            f"static const td_dims {p}_input_dims = {em.dims(g.tensors[op.input].shape)};\n"
            f"static const td_dims {p}_output_dims = {em.dims(g.tensors[op.output].shape)};\n")
        return [f"    st = td_{self.short}_s8(&{p}_params, &{p}_input_dims, {call.ins[0]}, "
                f"&{p}_output_dims, {call.out});"]


@register
class MaxPool2DDef(_Pool2DDef):
    kind = "MAX_POOL_2D"
    short = "maxpool"
    mode = "max"

    def pool(self, op: Pool2D, x: np.ndarray, ho: int, wo: int) -> np.ndarray:
        xp = pad(x, op.padding, -128)  # -128 never wins against a real cell
        return windows(xp, *op.filter, *op.stride, ho, wo).max(axis=(3, 4))


@register
class AvgPool2DDef(_Pool2DDef):
    kind = "AVERAGE_POOL_2D"
    short = "avgpool"
    mode = "avg"

    def pool(self, op: Pool2D, x: np.ndarray, ho: int, wo: int) -> np.ndarray:
        xp = pad(x.astype(np.int64), op.padding, 0)
        # the divisor counts only the cells inside the input
        ones = pad(np.ones((1, *x.shape[1:3], 1), dtype=np.int64), op.padding, 0)
        total = windows(xp, *op.filter, *op.stride, ho, wo).sum(axis=(3, 4))
        count = windows(ones, *op.filter, *op.stride, ho, wo).sum(axis=(3, 4))
        half = count // 2
        num = np.where(total > 0, total + half, total - half)
        return np.abs(num) // count * np.sign(num)  # C division truncates toward zero
