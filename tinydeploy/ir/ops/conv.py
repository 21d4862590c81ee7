"""CONV_2D: int8 convolution, per-channel requantization (TFLM reference_integer_ops)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinydeploy.ir.ops import register
from tinydeploy.ir.ops.base import CEmitter, EmitCall, OpDef, ReadContext
from tinydeploy.ir.ops.common import check_conv_shapes, pad, read_conv, requantize, windows


@dataclass
class Conv2D:
    """CONV_2D. weights int8 OHWI [out_c, kh, kw, in_c]; bias int32 [out_c]."""

    name: str
    input: str
    output: str
    weights: np.ndarray
    bias: np.ndarray
    weight_scales: np.ndarray  # float32 [out_c]
    multiplier: np.ndarray  # int32 [out_c]
    shift: np.ndarray  # int32 [out_c]
    stride: tuple[int, int]  # (h, w)
    padding: tuple[int, int, int, int]  # (top, left, bottom, right), explicit, >= 0
    input_zero_point: int
    output_zero_point: int
    act_min: int
    act_max: int
    kind: str = field(default="CONV_2D", init=False)


@register
class Conv2DDef(OpDef[Conv2D]):
    kind = "CONV_2D"
    short = "conv"
    weighted = True

    def read(self, ctx: ReadContext) -> Conv2D:
        _, fields = read_conv(ctx, "Conv2DOptions", out_axis=0)
        return Conv2D(**fields)

    def check_shapes(self, op: Conv2D, graph) -> None:
        check_conv_shapes(op, graph, in_c=op.weights.shape[3], out_c=op.weights.shape[0])

    def reference(self, op: Conv2D, inputs, out_shape) -> np.ndarray:
        (x,) = inputs
        _, ho, wo, oc = out_shape
        xo = pad(x.astype(np.float64) - op.input_zero_point, op.padding, 0.0)
        kh, kw = op.weights.shape[1:3]
        cols = windows(xo, kh, kw, *op.stride, ho, wo).reshape(len(x), ho, wo, -1)
        # float64 products are exact here (|sum| << 2**53) and much faster than int64
        acc = cols @ op.weights.reshape(oc, -1).astype(np.float64).T
        return requantize(op, acc.astype(np.int64) + op.bias.astype(np.int64))

    def emit_c(self, em: CEmitter, call: EmitCall) -> list[str]:
        """td_conv_<kernel>_s8 of the layer's weight format (a 2x2 max pool may be fused)."""
        op, p, layer, g = call.layer.op, call.p, call.layer, em.g
        pad = op.padding
        em.decls.append(
            f"static const td_conv_params {p}_params = {{\n    .stride_h = {op.stride[0]}, "
            f".stride_w = {op.stride[1]}, .pad_top = {pad[0]}, .pad_left = {pad[1]}, "
            f".pad_bottom = {pad[2]}, .pad_right = {pad[3]},\n    .input_offset = "
            f"{-op.input_zero_point}, .output_offset = {op.output_zero_point},\n"
            f"    .activation = {{.min = {op.act_min}, .max = {op.act_max}}}, "
            f".fused_maxpool = {1 if layer.fused_pool is not None else 0}}};\n")
        em.quant_arrays(p, op)
        wa = em.weight_args(p, layer)
        em.decls.append(
            f"static const td_dims {p}_input_dims = {em.dims(g.tensors[op.input].shape)};\n"
            f"static const td_dims {p}_filter_dims = {em.dims(op.weights.shape)};\n"
            f"static const td_dims {p}_output_dims = "
            f"{em.dims(g.tensors[layer.output].shape)};\n")
        size_args = f"&{p}_params, &{p}_input_dims, &{p}_filter_dims"
        w = wa.weights
        if wa.sized_by_descriptor:
            size_args += f", {w}"
        if wa.needs_taps:
            w += f", {em.conv_taps(p, layer)}"
        return [f"    if (td_conv_{wa.kernel}_s8_get_buffer_size({size_args}) > "
                f"{layer.scratch}) {call.fail}",
                f"    st = td_conv_{wa.kernel}_s8(&{p}_params, &{p}_quant, &{p}_input_dims, "
                f"{call.ins[0]}, &{p}_filter_dims, {w}, {p}_bias, &{p}_output_dims, {call.out}, "
                f"{call.scratch});"]

