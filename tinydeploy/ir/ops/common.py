"""Helpers shared by several op modules: reading weights and convolution parameters, the
spatial output size, and the numpy pieces of the reference kernels (sliding windows,
padding, per-channel requantization)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tinydeploy.errors import ExportError
from tinydeploy.ir.prepare import activation_range, conv_multipliers, padding
from tinydeploy.quant.fixedpoint import requantize_to_int8

if TYPE_CHECKING:
    from tinydeploy.ir.graph import Graph
    from tinydeploy.ir.ops.base import ReadContext
    from tinydeploy.ir.tflite_reader import Reader


# ---- reading -----------------------------------------------------------------------------

def read_weights(r: Reader, ins: list[int], name: str, rank: int, out_axis: int):
    """Constant int8 weights (input 1, symmetric, output channels along `out_axis`) and
    int32 bias (input 2, zeros if absent): (weights, bias, per-channel scales, raw scales)."""
    w = r.constant(ins[1])
    if w is None or w.dtype != np.int8 or w.ndim != rank:
        raise ExportError(f"{r.source}: {name} needs constant int8 weights of rank {rank}")
    scales, zps = r.quant(ins[1])
    if np.any(zps != 0):
        raise ExportError(f"{r.source}: {name} has non-zero weight zero points")
    out_c = w.shape[out_axis]
    if len(scales) == 1:
        scales = np.repeat(scales, out_c)
    elif len(scales) != out_c:
        raise ExportError(
            f"{r.source}: {name} has {len(scales)} weight scales for {out_c} channels")
    bias = None
    if len(ins) > 2 and ins[2] >= 0:
        bias = r.constant(ins[2])
        if bias is None or bias.dtype != np.int32:
            raise ExportError(f"{r.source}: {name} bias must be constant int32")
    if bias is None:
        bias = np.zeros(out_c, dtype=np.int32)
    return w, bias.reshape(-1), scales, r.quant(ins[1])[0]


def read_conv(ctx: ReadContext, options: str, out_axis: int) -> tuple[Any, dict[str, Any]]:
    """The options table and the fields CONV_2D and DEPTHWISE_CONV_2D share."""
    o = ctx.options(options)
    if o.DilationHFactor() not in (0, 1) or o.DilationWFactor() not in (0, 1):
        raise ExportError(f"{ctx.source}: {ctx.name}: dilated convolution is not supported")
    w, bias, scales, _ = read_weights(ctx.reader, ctx.ins, ctx.name, 4, out_axis)
    tin, tout = ctx.tin, ctx.tout
    stride = (o.StrideH(), o.StrideW())
    pads = padding(o.Padding(), tin.shape, tout.shape, (w.shape[1], w.shape[2]), stride)
    mult, shift = conv_multipliers(tin.scale, scales, tout.scale)
    lo, hi = activation_range(o.FusedActivationFunction(), tout.scale, tout.zero_point)
    return o, dict(name=ctx.name, input=ctx.x, output=ctx.y, weights=w, bias=bias,
                   weight_scales=scales, multiplier=mult, shift=shift, stride=stride,
                   padding=pads, input_zero_point=tin.zero_point,
                   output_zero_point=tout.zero_point, act_min=lo, act_max=hi)


def same_quant(ctx: ReadContext) -> None:
    """Data-movement ops (their kernels copy bytes) must not requantize."""
    a, b = ctx.tin, ctx.tout
    if a.scale != b.scale or a.zero_point != b.zero_point:
        raise ExportError(
            f"{ctx.source}: {ctx.name} changes the quantization, which is unsupported")


def fixed_output_quant(ctx: ReadContext, kind: str, scale: float, zero_point: int,
                       scale_text: str) -> None:
    """Ops whose int8 output TFLM only accepts at one fixed quantization (SOFTMAX, LOGISTIC:
    scale 1/256, zero point -128; `scale_text` is the scale as the error shows it)."""
    tout = ctx.tout
    if tout.zero_point != zero_point or abs(tout.scale - scale) > 1e-8:
        raise ExportError(
            f"{ctx.source}: {ctx.name}: int8 {kind} output must have scale {scale_text} and "
            f"zero point {zero_point} (TFLite Micro requires it), got scale {tout.scale:g} "
            f"zero point {tout.zero_point}")


# ---- shape checks ------------------------------------------------------------------------

def same_shape(ctx: ReadContext) -> None:
    """Elementwise ops: the output has the input's shape."""
    tin, tout = ctx.tin, ctx.tout
    if tin.shape != tout.shape:
        raise ExportError(
            f"{ctx.source}: {ctx.name}: shape mismatch {tin.shape} -> {tout.shape}")


def spatial_out(in_shape: tuple[int, ...], pads: tuple[int, int, int, int],
                filt: tuple[int, int], stride: tuple[int, int]) -> tuple[int, int]:
    """(out_h, out_w) of a window op over an NHWC input with explicit padding."""
    ho = (in_shape[1] + pads[0] + pads[2] - filt[0]) // stride[0] + 1
    wo = (in_shape[2] + pads[1] + pads[3] - filt[1]) // stride[1] + 1
    return ho, wo


def check_conv_shapes(op, graph: Graph, in_c: int, out_c: int) -> None:
    tin, tout = graph.tensors[op.input].shape, graph.tensors[op.output].shape
    w = op.weights
    ho, wo = spatial_out(tin, op.padding, w.shape[1:3], op.stride)
    if tin[3] != in_c or tout != (tin[0], ho, wo, out_c) or len(op.bias) != out_c:
        raise ExportError(f"{op.name}: shape mismatch: input {tin}, weights "
                          f"{w.shape}, output {tout}")


# ---- reference kernels -------------------------------------------------------------------

def windows(x: np.ndarray, kh: int, kw: int, sh: int, sw: int, ho: int, wo: int) -> np.ndarray:
    """(B, H, W, C) -> (B, ho, wo, kh, kw, C) strided view of the sliding windows."""
    b, _, _, c = x.shape
    s = x.strides
    return np.lib.stride_tricks.as_strided(
        x, (b, ho, wo, kh, kw, c), (s[0], s[1] * sh, s[2] * sw, s[1], s[2], s[3]),
        writeable=False)


def pad(x: np.ndarray, pads: tuple[int, int, int, int], value) -> np.ndarray:
    """Pad the H and W dims of (B, H, W, C) by (top, left, bottom, right) with `value`."""
    top, left, bottom, right = pads
    if not any(pads):
        return x
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=value)


def requantize(op, acc: np.ndarray) -> np.ndarray:
    """int64 accumulators (+ bias) -> int8 with the op's per-channel multiplier and clamp."""
    return requantize_to_int8(acc, op.multiplier.astype(np.int64), op.shift.astype(np.int64),
                              op.output_zero_point, op.act_min, op.act_max)
