"""Numpy reference executor of the IR, bit-exact with TFLite Micro's reference kernels.

Vectorised over a batch of images: `run(graph, x)` takes int8 inputs of shape (B, *input
shape without batch) and returns int8 outputs (B, *output shape without batch). Integer
sums are taken with float64 matrix products, which are exact here (|sum| << 2**53).
"""

from __future__ import annotations

import numpy as np

from tinydeploy.errors import ExportError
from tinydeploy.ir.graph import Graph
from tinydeploy.quant.fixedpoint import multiply_by_quantized_multiplier, requantize_to_int8
from tinydeploy.quant.softmax import SoftmaxParams, softmax_int8


def _windows(x: np.ndarray, kh: int, kw: int, sh: int, sw: int, ho: int, wo: int) -> np.ndarray:
    """(B, H, W, C) -> (B, ho, wo, kh, kw, C) strided view of the sliding windows."""
    b, _, _, c = x.shape
    s = x.strides
    return np.lib.stride_tricks.as_strided(
        x, (b, ho, wo, kh, kw, c), (s[0], s[1] * sh, s[2] * sw, s[1], s[2], s[3]),
        writeable=False)


def _pad(x: np.ndarray, padding, value) -> np.ndarray:
    top, left, bottom, right = padding
    if not any(padding):
        return x
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=value)


def conv2d(op, x: np.ndarray, out_shape) -> np.ndarray:
    _, ho, wo, oc = out_shape
    xo = _pad(x.astype(np.float64) - op.input_zero_point, op.padding, 0.0)
    kh, kw = op.weights.shape[1:3]
    cols = _windows(xo, kh, kw, *op.stride, ho, wo).reshape(len(x), ho, wo, -1)
    acc = cols @ op.weights.reshape(oc, -1).astype(np.float64).T
    acc = acc.astype(np.int64) + op.bias.astype(np.int64)
    return requantize_to_int8(acc, op.multiplier.astype(np.int64), op.shift.astype(np.int64),
                              op.output_zero_point, op.act_min, op.act_max)


def depthwise_conv2d(op, x: np.ndarray, out_shape) -> np.ndarray:
    _, ho, wo, _ = out_shape
    dm = op.depth_multiplier
    xo = _pad(x.astype(np.int64) - op.input_zero_point, op.padding, 0)
    kh, kw = op.weights.shape[1:3]
    win = _windows(xo, kh, kw, *op.stride, ho, wo)  # (B, ho, wo, kh, kw, in_c)
    win = np.repeat(win, dm, axis=-1)  # output channel oc = ic * dm + m
    acc = np.einsum("bhwijc,ijc->bhwc", win, op.weights[0].astype(np.int64))
    acc = acc + op.bias.astype(np.int64)
    return requantize_to_int8(acc, op.multiplier.astype(np.int64), op.shift.astype(np.int64),
                              op.output_zero_point, op.act_min, op.act_max)


def fully_connected(op, x: np.ndarray, out_shape) -> np.ndarray:
    xo = x.reshape(len(x), -1).astype(np.float64) - op.input_zero_point
    acc = (xo @ op.weights.astype(np.float64).T).astype(np.int64) + op.bias.astype(np.int64)
    out = requantize_to_int8(acc, op.multiplier.astype(np.int64), op.shift.astype(np.int64),
                             op.output_zero_point, op.act_min, op.act_max)
    return out.reshape((len(x), *out_shape[1:]))


def pool2d(op, x: np.ndarray, out_shape) -> np.ndarray:
    _, ho, wo, _ = out_shape
    fh, fw = op.filter
    if op.mode == "max":
        xp = _pad(x, op.padding, -128)  # -128 never wins against a real cell
        out = _windows(xp, fh, fw, *op.stride, ho, wo).max(axis=(3, 4))
        return np.clip(out, op.act_min, op.act_max).astype(np.int8)
    xp = _pad(x.astype(np.int64), op.padding, 0)
    ones = _pad(np.ones((1, *x.shape[1:3], 1), dtype=np.int64), op.padding, 0)
    total = _windows(xp, fh, fw, *op.stride, ho, wo).sum(axis=(3, 4))
    count = _windows(ones, fh, fw, *op.stride, ho, wo).sum(axis=(3, 4))
    half = count // 2
    num = np.where(total > 0, total + half, total - half)
    q = np.abs(num) // count * np.sign(num)  # C division truncates toward zero
    return np.clip(q, op.act_min, op.act_max).astype(np.int8)


def add(op, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a1 = (a.astype(np.int64) + op.input1_offset) << op.left_shift
    b1 = (b.astype(np.int64) + op.input2_offset) << op.left_shift
    sa = multiply_by_quantized_multiplier(a1, op.input1_multiplier, op.input1_shift)
    sb = multiply_by_quantized_multiplier(b1, op.input2_multiplier, op.input2_shift)
    return requantize_to_int8(sa + sb, op.output_multiplier, op.output_shift,
                              op.output_offset, op.act_min, op.act_max)


def run(graph: Graph, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """int8 inputs (B, *in_shape[1:]) -> int8 outputs (B, *out_shape[1:])."""
    x = np.asarray(x)
    in_shape = graph.input_tensor.shape
    if x.dtype != np.int8 or tuple(x.shape[1:]) != tuple(in_shape[1:]):
        want = ", ".join(map(str, in_shape[1:]))
        raise ExportError(f"reference executor needs int8 input (B, {want}), "
                          f"got {x.dtype} {x.shape}")
    outs = [_run_batch(graph, x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    if not outs:
        return np.zeros((0, *graph.output_tensor.shape[1:]), dtype=np.int8)
    return np.concatenate(outs)


def _run_batch(graph: Graph, x: np.ndarray) -> np.ndarray:
    values = {graph.input: x}
    for op in graph.ops:
        a = values[op.input]
        out_shape = graph.tensors[op.output].shape
        if op.kind == "CONV_2D":
            y = conv2d(op, a, out_shape)
        elif op.kind == "DEPTHWISE_CONV_2D":
            y = depthwise_conv2d(op, a, out_shape)
        elif op.kind == "FULLY_CONNECTED":
            y = fully_connected(op, a, out_shape)
        elif op.kind in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
            y = pool2d(op, a, out_shape)
        elif op.kind == "ADD":
            y = add(op, a, values[op.input2])
        elif op.kind == "RESHAPE":
            y = a.reshape((len(a), *out_shape[1:]))
        elif op.kind == "TRANSPOSE":
            if op.perm[0] != 0:
                raise ExportError(f"{op.name}: transposing the batch dimension is unsupported")
            y = np.ascontiguousarray(a.transpose(op.perm))
        elif op.kind == "SOFTMAX":
            y = softmax_int8(a, SoftmaxParams(op.input_multiplier, op.input_left_shift,
                                              op.diff_min))
        else:
            raise ExportError(f"{op.name}: the reference executor does not implement {op.kind}")
        values[op.output] = y
    return values[graph.output]
