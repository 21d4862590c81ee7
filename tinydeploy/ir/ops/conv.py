"""CONV_2D: int8 convolution, per-channel requantization (TFLM reference_integer_ops)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinydeploy.ir.ops import register
from tinydeploy.ir.ops.base import OpDef, ReadContext
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
