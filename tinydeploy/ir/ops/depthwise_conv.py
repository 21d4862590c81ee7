"""DEPTHWISE_CONV_2D: int8 per-channel convolution with a depth multiplier."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinydeploy.ir.ops import register
from tinydeploy.ir.ops.base import CEmitter, EmitCall, OpDef, ReadContext
from tinydeploy.ir.ops.common import check_conv_shapes, pad, read_conv, requantize, windows


@dataclass
class DepthwiseConv2D:
    """DEPTHWISE_CONV_2D. weights int8 [1, kh, kw, out_c], out_c = in_c * depth_multiplier."""

    name: str
    input: str
    output: str
    weights: np.ndarray
    bias: np.ndarray
    weight_scales: np.ndarray
    multiplier: np.ndarray
    shift: np.ndarray
    stride: tuple[int, int]
    padding: tuple[int, int, int, int]
    depth_multiplier: int
    input_zero_point: int
    output_zero_point: int
    act_min: int
    act_max: int
    kind: str = field(default="DEPTHWISE_CONV_2D", init=False)


@register
class DepthwiseConv2DDef(OpDef[DepthwiseConv2D]):
    kind = "DEPTHWISE_CONV_2D"
    short = "dwconv"
    weighted = True

    def read(self, ctx: ReadContext) -> DepthwiseConv2D:
        o, fields = read_conv(ctx, "DepthwiseConv2DOptions", out_axis=-1)
        return DepthwiseConv2D(depth_multiplier=int(o.DepthMultiplier()) or 1, **fields)

    def check_shapes(self, op: DepthwiseConv2D, graph) -> None:
        out_c = op.weights.shape[3]
        check_conv_shapes(op, graph, in_c=out_c // op.depth_multiplier, out_c=out_c)

    def reference(self, op: DepthwiseConv2D, inputs, out_shape) -> np.ndarray:
        (x,) = inputs
        _, ho, wo, _ = out_shape
        xo = pad(x.astype(np.int64) - op.input_zero_point, op.padding, 0)
        kh, kw = op.weights.shape[1:3]
        win = windows(xo, kh, kw, *op.stride, ho, wo)  # (B, ho, wo, kh, kw, in_c)
        win = np.repeat(win, op.depth_multiplier, axis=-1)  # output channel ic * dm + m
        acc = np.einsum("bhwijc,ijc->bhwc", win, op.weights[0].astype(np.int64))
        return requantize(op, acc + op.bias.astype(np.int64))

    def emit_c(self, em: CEmitter, call: EmitCall) -> list[str]:
        """td_dwconv_dense_s8 (depthwise weights are always dense)."""
        op, p, g = call.layer.op, call.p, em.g
        pad = op.padding
        em.decls.append(
            f"static const td_dwconv_params {p}_params = {{\n    .stride_h = {op.stride[0]}, "
            f".stride_w = {op.stride[1]}, .pad_top = {pad[0]}, .pad_left = {pad[1]}, "
            f".pad_bottom = {pad[2]}, .pad_right = {pad[3]},\n    .depth_multiplier = "
            f"{op.depth_multiplier}, .input_offset = {-op.input_zero_point}, "
            f".output_offset = {op.output_zero_point},\n"
            f"    .activation = {{.min = {op.act_min}, .max = {op.act_max}}}}};\n")
        em.quant_arrays(p, op)
        em.decls.append(em.array(f"{p}_values", "int8_t", op.weights))
        em.decls.append(
            f"static const td_dims {p}_input_dims = {em.dims(g.tensors[op.input].shape)};\n"
            f"static const td_dims {p}_filter_dims = {em.dims(op.weights.shape)};\n"
            f"static const td_dims {p}_output_dims = {em.dims(g.tensors[op.output].shape)};\n")
        return [f"    st = td_dwconv_dense_s8(&{p}_params, &{p}_quant, &{p}_input_dims, "
                f"{call.ins[0]}, &{p}_filter_dims, {p}_values, {p}_bias, &{p}_output_dims, "
                f"{call.out});"]

