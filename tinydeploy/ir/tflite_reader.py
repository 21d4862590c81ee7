"""Read an int8 .tflite flatbuffer into the IR with the `tflite` package (no TensorFlow).

Requantization parameters are computed exactly as TFLite Micro computes them at prepare
time (`tinydeploy.ir.prepare`, re-exported here), so the IR can be executed bit-exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinydeploy.errors import ExportError
from tinydeploy.ir.graph import (
    Add,
    Conv2D,
    DepthwiseConv2D,
    FullyConnected,
    Graph,
    Op,
    Pool2D,
    Reshape,
    Softmax,
    Tensor,
    Transpose,
)
from tinydeploy.ir.prepare import (
    activation_range,
    conv_multipliers,
    fc_multipliers,
    padding,
    same_padding,
)
from tinydeploy.quant.fixedpoint import quantize_multiplier
from tinydeploy.quant.softmax import OUTPUT_SCALE, OUTPUT_ZERO_POINT, softmax_params

SUPPORTED_OPS = (
    "CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D", "FULLY_CONNECTED", "ADD",
    "RESHAPE", "TRANSPOSE", "SOFTMAX",
)
_SHORT = {"CONV_2D": "conv", "DEPTHWISE_CONV_2D": "dwconv", "MAX_POOL_2D": "maxpool",
          "AVERAGE_POOL_2D": "avgpool", "FULLY_CONNECTED": "fc", "ADD": "add",
          "RESHAPE": "reshape", "TRANSPOSE": "transpose", "SOFTMAX": "softmax"}
_NUMPY_TYPES = {0: np.float32, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8, 7: np.int16}
ADD_LEFT_SHIFT = 20  # TFLM's left shift for int8 ADD


# ---- flatbuffer access -------------------------------------------------------------------

class _Reader:
    def __init__(self, data: bytes, source: str) -> None:
        import tflite

        self.tflite = tflite
        self.source = source
        if len(data) < 16 or data[4:8] != b"TFL3":
            raise ExportError(f"{source} is not a TFLite flatbuffer (missing TFL3 identifier)")
        self.data = data
        self.model = tflite.Model.GetRootAsModel(data, 0)
        if self.model.SubgraphsLength() != 1:
            raise ExportError(
                f"{source}: expected 1 subgraph, found {self.model.SubgraphsLength()}")
        self.sg = self.model.Subgraphs(0)
        self.names = {v: k for k, v in vars(tflite.BuiltinOperator).items()
                      if not k.startswith("_")}

    def op_name(self, op) -> str:
        code = self.model.OperatorCodes(op.OpcodeIndex())
        value = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        return self.names.get(value, f"builtin code {value}")

    def tensor(self, idx: int):
        return self.sg.Tensors(int(idx))

    def quant(self, idx: int) -> tuple[np.ndarray, np.ndarray]:
        q = self.tensor(idx).Quantization()
        if q is None or q.ScaleLength() == 0:
            raise ExportError(
                f"{self.source}: tensor {idx} is not quantized (not a full-int8 model)")
        return q.ScaleAsNumpy().astype(np.float32), q.ZeroPointAsNumpy().astype(np.int64)

    def constant(self, idx: int) -> np.ndarray | None:
        t = self.tensor(idx)
        buf = self.model.Buffers(t.Buffer())
        if buf is None or buf.DataLength() == 0:
            return None
        dtype = _NUMPY_TYPES.get(t.Type())
        if dtype is None:
            raise ExportError(f"{self.source}: tensor {idx} has unsupported type {t.Type()}")
        shape = tuple(int(s) for s in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        arr = np.frombuffer(buf.DataAsNumpy().tobytes(), dtype=dtype)
        if arr.size != int(np.prod(shape)):
            raise ExportError(f"{self.source}: tensor {idx} data does not match its shape {shape}")
        return arr.reshape(shape).copy()

    def options(self, op, cls_name: str):
        table = op.BuiltinOptions()
        opts = getattr(self.tflite, cls_name)()
        if table is not None:
            opts.Init(table.Bytes, table.Pos)
            return opts
        return None


def read_tflite(path_or_bytes: str | Path | bytes) -> Graph:
    """Parse an int8 .tflite into a Graph; unsupported ops and corrupt files raise ExportError."""
    if isinstance(path_or_bytes, bytes | bytearray):
        data, source = bytes(path_or_bytes), "<bytes>"
    else:
        path = Path(path_or_bytes)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ExportError(f"cannot read {path}: {exc}") from exc
        source = str(path)
    try:
        return _read(_Reader(data, source))
    except ExportError:
        raise
    except Exception as exc:  # flatbuffer offsets out of range, struct errors, ...
        raise ExportError(
            f"{source} is corrupt or truncated ({type(exc).__name__}: {exc})") from exc


def _read(r: _Reader) -> Graph:
    sg = r.sg
    ops_fb = [sg.Operators(i) for i in range(sg.OperatorsLength())]
    kinds = [r.op_name(op) for op in ops_fb]
    bad = sorted({k for k in kinds if k not in SUPPORTED_OPS})
    if bad:
        raise ExportError(
            f"{r.source}: unsupported TFLite op(s) {', '.join(bad)}; supported: "
            f"{', '.join(SUPPORTED_OPS)}"
        )
    if sg.InputsLength() != 1 or sg.OutputsLength() != 1:
        raise ExportError(f"{r.source}: expected one input and one output tensor")
    tensors: dict[str, Tensor] = {}

    def act(idx: int) -> str:
        key = f"t{int(idx)}"
        if key not in tensors:
            t = r.tensor(idx)
            if t.Type() != 9:
                raise ExportError(
                    f"{r.source}: activation tensor {t.Name().decode(errors='replace')!r} is not "
                    "int8 (export with full-integer quantization and int8 input/output)"
                )
            scale, zp = r.quant(idx)
            tensors[key] = Tensor(t.Name().decode(errors="replace"),
                                  tuple(int(s) for s in t.ShapeAsNumpy()),
                                  float(scale[0]), int(zp[0]))
        return key

    counters: dict[str, int] = {}
    ops: list[Op] = []
    for op, kind in zip(ops_fb, kinds, strict=True):
        counters[kind] = counters.get(kind, 0) + 1
        name = f"{_SHORT[kind]}{counters[kind]}"
        ins = [int(i) for i in op.InputsAsNumpy()]
        out = int(op.OutputsAsNumpy()[0])
        ops.append(_build_op(r, op, kind, name, ins, out, act, tensors))
    graph = Graph(tensors=tensors, ops=ops, input=act(sg.InputsAsNumpy()[0]),
                  output=act(sg.OutputsAsNumpy()[0]), source=r.source)
    _check_shapes(graph)
    return graph


def _weights(r: _Reader, ins: list[int], name: str, want_dims: int):
    w = r.constant(ins[1])
    if w is None or w.dtype != np.int8 or w.ndim != want_dims:
        raise ExportError(f"{r.source}: {name} needs constant int8 weights of rank {want_dims}")
    scales, zps = r.quant(ins[1])
    if np.any(zps != 0):
        raise ExportError(f"{r.source}: {name} has non-zero weight zero points")
    out_c = w.shape[0] if name.startswith(("conv", "fc")) else w.shape[-1]
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


def _build_op(r: _Reader, fb_op, kind: str, name: str, ins: list[int], out: int, act,
              tensors) -> Op:
    x = act(ins[0])
    y = act(out)
    tin, tout = tensors[x], tensors[y]
    if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        is_dw = kind == "DEPTHWISE_CONV_2D"
        o = r.options(fb_op,
                      "DepthwiseConv2DOptions" if is_dw else "Conv2DOptions")
        if o.DilationHFactor() not in (0, 1) or o.DilationWFactor() not in (0, 1):
            raise ExportError(f"{r.source}: {name}: dilated convolution is not supported")
        w, bias, scales, raw_scales = _weights(r, ins, name, 4)
        kh, kw = w.shape[1], w.shape[2]
        stride = (o.StrideH(), o.StrideW())
        pads = padding(o.Padding(), tin.shape, tout.shape, (kh, kw), stride)
        mult, shift = conv_multipliers(tin.scale, scales, tout.scale)
        lo, hi = activation_range(o.FusedActivationFunction(), tout.scale, tout.zero_point)
        common = dict(name=name, input=x, output=y, weights=w, bias=bias,
                      weight_scales=scales, multiplier=mult, shift=shift, stride=stride,
                      padding=pads, input_zero_point=tin.zero_point,
                      output_zero_point=tout.zero_point, act_min=lo, act_max=hi)
        if is_dw:
            return DepthwiseConv2D(depth_multiplier=int(o.DepthMultiplier()) or 1, **common)
        return Conv2D(**common)
    if kind == "FULLY_CONNECTED":
        o = r.options(fb_op, "FullyConnectedOptions")
        if o is not None and o.WeightsFormat() != 0:
            raise ExportError(f"{r.source}: {name}: shuffled FULLY_CONNECTED weights unsupported")
        w, bias, scales, raw_scales = _weights(r, ins, name, 2)
        mult, shift = fc_multipliers(tin.scale, raw_scales, tout.scale, w.shape[0])
        fused = o.FusedActivationFunction() if o is not None else 0
        lo, hi = activation_range(fused, tout.scale, tout.zero_point)
        return FullyConnected(name=name, input=x, output=y, weights=w, bias=bias,
                              weight_scales=scales, multiplier=mult, shift=shift,
                              input_zero_point=tin.zero_point,
                              output_zero_point=tout.zero_point, act_min=lo, act_max=hi)
    if kind in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        o = r.options(fb_op, "Pool2DOptions")
        filt = (o.FilterHeight(), o.FilterWidth())
        stride = (o.StrideH(), o.StrideW())
        if tin.scale != tout.scale or tin.zero_point != tout.zero_point:
            raise ExportError(f"{r.source}: {name}: pooling must keep the quantization")
        lo, hi = activation_range(o.FusedActivationFunction(), tout.scale, tout.zero_point)
        return Pool2D(name=name, input=x, output=y,
                      mode="max" if kind == "MAX_POOL_2D" else "avg", filter=filt,
                      stride=stride, padding=padding(o.Padding(), tin.shape, tout.shape, filt,
                                                      stride), act_min=lo, act_max=hi)
    if kind == "ADD":
        x2 = act(ins[1])
        t2 = tensors[x2]
        if t2.shape != tin.shape or tout.shape != tin.shape:
            raise ExportError(f"{r.source}: {name}: broadcasting ADD is not supported")
        o = r.options(fb_op, "AddOptions")
        twice_max = 2.0 * float(max(np.float32(tin.scale), np.float32(t2.scale)))
        m1, s1 = quantize_multiplier(float(np.float32(tin.scale)) / twice_max)
        m2, s2 = quantize_multiplier(float(np.float32(t2.scale)) / twice_max)
        mo, so = quantize_multiplier(
            twice_max / ((1 << ADD_LEFT_SHIFT) * float(np.float32(tout.scale))))
        lo, hi = activation_range(o.FusedActivationFunction() if o else 0, tout.scale,
                                  tout.zero_point)
        return Add(name=name, input=x, input2=x2, output=y, input1_offset=-tin.zero_point,
                   input1_multiplier=m1, input1_shift=s1, input2_offset=-t2.zero_point,
                   input2_multiplier=m2, input2_shift=s2, left_shift=ADD_LEFT_SHIFT,
                   output_offset=tout.zero_point, output_multiplier=mo, output_shift=so,
                   act_min=lo, act_max=hi)
    if kind == "RESHAPE":
        _same_quant(r, name, tin, tout)
        if tin.size != tout.size:
            raise ExportError(f"{r.source}: {name}: shape mismatch {tin.shape} -> {tout.shape}")
        return Reshape(name=name, input=x, output=y)
    if kind == "TRANSPOSE":
        _same_quant(r, name, tin, tout)
        perm = r.constant(ins[1])
        if perm is None:
            raise ExportError(f"{r.source}: {name}: permutation must be constant")
        perm_t = tuple(int(p) for p in perm.reshape(-1))
        if tuple(tin.shape[p] for p in perm_t) != tout.shape:
            raise ExportError(f"{r.source}: {name}: shape mismatch for permutation {perm_t}")
        return Transpose(name=name, input=x, output=y, perm=perm_t)
    if kind == "SOFTMAX":
        o = r.options(fb_op, "SoftmaxOptions")
        beta = float(o.Beta()) if o else 1.0
        if tin.shape != tout.shape:
            raise ExportError(f"{r.source}: {name}: shape mismatch {tin.shape} -> {tout.shape}")
        if tout.zero_point != OUTPUT_ZERO_POINT or abs(tout.scale - OUTPUT_SCALE) > 1e-8:
            raise ExportError(f"{r.source}: {name}: int8 SOFTMAX output must have scale 1/256 "
                              f"and zero point -128 (TFLite Micro requires it), got scale "
                              f"{tout.scale:g} zero point {tout.zero_point}")
        params = softmax_params(beta, float(np.float32(tin.scale)))
        return Softmax(name=name, input=x, output=y, beta=beta,
                       input_multiplier=params.input_multiplier,
                       input_left_shift=params.input_left_shift, diff_min=params.diff_min)
    raise ExportError(f"{r.source}: unsupported TFLite op {kind}")  # pragma: no cover


def _same_quant(r: _Reader, name: str, a: Tensor, b: Tensor) -> None:
    if a.scale != b.scale or a.zero_point != b.zero_point:
        raise ExportError(f"{r.source}: {name} changes the quantization, which is unsupported")


def _check_shapes(g: Graph) -> None:
    """Every op's tensors agree with its parameters (a corrupt file fails here, not in C)."""
    for op in g.ops:
        tin, tout = g.tensors[op.input].shape, g.tensors[op.output].shape
        if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            w = op.weights
            in_c = w.shape[3] if op.kind == "CONV_2D" else w.shape[3] // op.depth_multiplier
            out_c = w.shape[0] if op.kind == "CONV_2D" else w.shape[3]
            ho = (tin[1] + op.padding[0] + op.padding[2] - w.shape[1]) // op.stride[0] + 1
            wo = (tin[2] + op.padding[1] + op.padding[3] - w.shape[2]) // op.stride[1] + 1
            if tin[3] != in_c or tout != (tin[0], ho, wo, out_c) or len(op.bias) != out_c:
                raise ExportError(f"{op.name}: shape mismatch: input {tin}, weights "
                                  f"{w.shape}, output {tout}")
        elif op.kind == "FULLY_CONNECTED":
            if int(np.prod(tin[1:])) != op.weights.shape[1] or tout[-1] != op.weights.shape[0] \
                    or len(op.bias) != op.weights.shape[0]:
                raise ExportError(f"{op.name}: shape mismatch: input {tin}, weights "
                                  f"{op.weights.shape}, output {tout}")
        elif op.kind in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
            ho = (tin[1] + op.padding[0] + op.padding[2] - op.filter[0]) // op.stride[0] + 1
            wo = (tin[2] + op.padding[1] + op.padding[3] - op.filter[1]) // op.stride[1] + 1
            if tout != (tin[0], ho, wo, tin[3]):
                raise ExportError(f"{op.name}: shape mismatch: input {tin}, output {tout}")
    if g.input_tensor.shape[0] != 1:
        raise ExportError(f"model input must have batch 1, got {g.input_tensor.shape}")


__all__ = ["SUPPORTED_OPS", "activation_range", "conv_multipliers", "fc_multipliers", "padding",
           "read_tflite", "same_padding"]
