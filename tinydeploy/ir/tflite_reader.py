"""Read an int8 .tflite flatbuffer into the IR with the `tflite` package (no TensorFlow).

This module walks the operators and tensors; what each op reads and checks is its entry in
the op table (`tinydeploy.ir.ops`). Requantization parameters are computed exactly as
TFLite Micro computes them at prepare time (`tinydeploy.ir.prepare`, re-exported here), so
the IR can be executed bit-exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinydeploy.errors import ExportError
from tinydeploy.ir.graph import Graph, Op, Tensor
from tinydeploy.ir.ops import ReadContext, get_op, supported_ops
from tinydeploy.ir.prepare import (
    activation_range,
    conv_multipliers,
    fc_multipliers,
    padding,
    same_padding,
)

# The ops of the table's modules, for callers that want a constant; the reader asks the
# table itself, so an op registered at run time is read too.
SUPPORTED_OPS = supported_ops()
_NUMPY_TYPES = {0: np.float32, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8, 7: np.int16}
_ACTIVATION_TYPES = {9: "int8", 3: "uint8", 0: "float32"}  # tflite.TensorType -> Tensor.dtype


def _type_name(code: int) -> str:
    import tflite

    names = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
    return names.get(code, f"code {code}")


class Reader:
    """Flatbuffer access: tensors, quantization, constant buffers, builtin options."""

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
        return _read(Reader(data, source))
    except ExportError:
        raise
    except Exception as exc:  # flatbuffer offsets out of range, struct errors, ...
        raise ExportError(
            f"{source} is corrupt or truncated ({type(exc).__name__}: {exc})") from exc


def _read(r: Reader) -> Graph:
    sg = r.sg
    ops_fb = [sg.Operators(i) for i in range(sg.OperatorsLength())]
    kinds = [r.op_name(op) for op in ops_fb]
    supported = supported_ops()
    bad = sorted({k for k in kinds if k not in supported})
    if bad:
        raise ExportError(
            f"{r.source}: unsupported TFLite op(s) {', '.join(bad)}; supported: "
            f"{', '.join(supported)}"
        )
    if sg.InputsLength() != 1 or sg.OutputsLength() != 1:
        raise ExportError(f"{r.source}: expected one input and one output tensor")
    tensors: dict[str, Tensor] = {}

    def act(idx: int) -> str:
        key = f"t{int(idx)}"
        if key not in tensors:
            t = r.tensor(idx)
            name = t.Name().decode(errors="replace")
            dtype = _ACTIVATION_TYPES.get(t.Type())
            if dtype is None:
                raise ExportError(
                    f"{r.source}: activation tensor {name!r} has type "
                    f"{_type_name(t.Type())}; supported: int8 (float32 and uint8 only as the "
                    "model's input or output, through QUANTIZE / DEQUANTIZE)")
            scale, zp = (0.0, 0) if dtype == "float32" else (
                float(q[0]) for q in r.quant(idx))
            tensors[key] = Tensor(name, tuple(int(s) for s in t.ShapeAsNumpy()),
                                  float(scale), int(zp), dtype)
        return key

    counters: dict[str, int] = {}
    ops: list[Op] = []
    for op, kind in zip(ops_fb, kinds, strict=True):
        opdef = get_op(kind)
        counters[kind] = counters.get(kind, 0) + 1
        ins = [int(i) for i in op.InputsAsNumpy()]
        out = int(op.OutputsAsNumpy()[0])
        x = act(ins[0])  # input before output: the order of graph.tensors
        y = act(out)
        if not opdef.edge_dtypes:  # name the dtype before the op's own checks run
            _require_int8(r.source, f"{opdef.short}{counters[kind]}", kind,
                          [tensors[x], tensors[y]])
        ctx = ReadContext(reader=r, fb_op=op, name=f"{opdef.short}{counters[kind]}", ins=ins,
                          x=x, y=y, tensors=tensors, act=act)
        ops.append(opdef.read(ctx))
    graph = Graph(tensors=tensors, ops=ops, input=act(sg.InputsAsNumpy()[0]),
                  output=act(sg.OutputsAsNumpy()[0]), source=r.source)
    _check_dtypes(graph)
    _check_shapes(graph)
    return graph


def _check_dtypes(g: Graph) -> None:
    """float32 / uint8 tensors only at the model's edges, read or written only by the ops
    that convert them (QUANTIZE, DEQUANTIZE: `OpDef.edge_dtypes`); every other op is int8."""
    for key, t in g.tensors.items():
        if t.dtype != "int8" and key not in (g.input, g.output):
            raise ExportError(f"{g.source}: tensor {t.name!r} is {t.dtype} inside the model; "
                              "only the model's input and output may be float32 or uint8")
    for op in g.ops:
        opdef = get_op(op.kind)
        if not opdef.edge_dtypes:
            _require_int8(g.source, op.name, op.kind,
                          [g.tensors[key] for key in [*opdef.inputs(op), op.output]])


def _require_int8(source: str, name: str, kind: str, tensors: list[Tensor]) -> None:
    for t in tensors:
        if t.dtype != "int8":
            raise ExportError(
                f"{source}: {name} ({kind}) on the {t.dtype} tensor {t.name!r}; tinydeploy "
                "runs int8 ops only (float32 / uint8 only at the model's input and output, "
                "through QUANTIZE / DEQUANTIZE: convert with full-integer quantization)")


def _check_shapes(g: Graph) -> None:
    """Every op's tensors agree with its parameters (a corrupt file fails here, not in C)."""
    for op in g.ops:
        get_op(op.kind).check_shapes(op, g)
    if g.input_tensor.shape[0] != 1:
        raise ExportError(f"model input must have batch 1, got {g.input_tensor.shape}")


__all__ = ["SUPPORTED_OPS", "Reader", "activation_range", "conv_multipliers", "fc_multipliers",
           "padding", "read_tflite", "same_padding"]
