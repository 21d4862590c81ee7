"""Generate `model.h` + `model.c` for one model from the IR, calling the tdnn kernels.

Contract with the firmware (keep exactly): TDM_INPUT_SIZE, TDM_OUTPUT_SIZE (elements),
TDM_ARENA_SIZE, TDM_NUM_LAYERS, TDM_INPUT_SCALE / _ZERO_POINT, TDM_OUTPUT_SCALE / _ZERO_POINT,
the I/O element types tdm_input_t / tdm_output_t (int8_t, or uint8_t / float for a model
with uint8 / float32 edges) with TDM_INPUT_DTYPE / TDM_OUTPUT_DTYPE ("int8", "uint8",
"float32") and one of TDM_INPUT_IS_INT8 / _UINT8 / _FLOAT32 defined (likewise TDM_OUTPUT_IS_*),
tdm_layer_names, tdm_invoke(input, output, arena) -> 0 on success, tdm_golden_input /
tdm_golden_output, and the TDM_PROFILE hooks tdm_layer_begin / tdm_layer_end.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinydeploy.codegen.memplan import Buffer, check_plan, plan
from tinydeploy.codegen.select import CostModel, LayerStats, choose, flash_bytes, validate_mode
from tinydeploy.errors import ExportError, FirmwareError
from tinydeploy.ir.graph import Graph, Op
from tinydeploy.ir.ops import get_op, supported_ops
from tinydeploy.ir.ops.base import EmitCall, WeightArgs
from tinydeploy.ir.ops.bytemap import c_float
from tinydeploy.ir.reference import run as run_reference
from tinydeploy.ir.transforms import FoldCandidate, fold_pads, fold_transposes
from tinydeploy.tdnn.formats import EncodedWeights, WeightFormat, WeightFormatError, get_format
from tinydeploy.tdnn.host import ConvSpec, load_hostlib
from tinydeploy.tdnn.taps import conv_taps


def c_supported() -> list[str]:
    """The TFLite ops the generator turns into C: those whose op unit has a C emitter (or
    needs none)."""
    return [kind for kind in supported_ops()
            if get_op(kind).emit_c is not None or get_op(kind).c_alias]


@dataclass
class Layer:
    """One executed layer of the generated code."""

    name: str
    kind: str  # conv, dwconv, fc, maxpool, avgpool, add, transpose
    op: Op
    inputs: list[str]  # root tensor keys
    output: str  # root tensor key
    fused_pool: Op | None = None
    encoding: EncodedWeights | None = None
    candidates: list[dict] = field(default_factory=list)
    scratch: int = 0
    macs: int = 0
    positions: int = 1


@dataclass
class GeneratedModel:
    header: str
    source: str
    graph: Graph  # the IR the C code implements (transposes folded where possible)
    layers: list[Layer]
    arena_size: int
    report: dict[str, Any]
    golden_input: np.ndarray
    golden_output: np.ndarray
    #: C files of weight formats outside the kernel library, built with the model
    format_sources: dict[str, str] = field(default_factory=dict)

    @property
    def files(self) -> dict[str, str]:
        return {"model.h": self.header, "model.c": self.source, **self.format_sources}


# ---- planning ----------------------------------------------------------------------------

def _w2d(op) -> np.ndarray:
    if op.kind == "DEPTHWISE_CONV_2D":
        return np.ascontiguousarray(op.weights.reshape(-1, op.weights.shape[-1]).T)
    return np.ascontiguousarray(op.weights.reshape(op.weights.shape[0], -1))


def _stats(graph: Graph, op) -> LayerStats:
    out = graph.tensors[op.output].shape
    w = _w2d(op)
    if op.kind == "FULLY_CONNECTED":
        return LayerStats("fc", w.shape[0], w.shape[1], int(np.count_nonzero(w)), 1)
    kind = "dwconv" if op.kind == "DEPTHWISE_CONV_2D" else "conv"
    return LayerStats(kind, w.shape[0], w.shape[1], int(np.count_nonzero(w)), out[1] * out[2])


def _keep_transpose(mode: str, graph: Graph, cost_model, objective,
                    layer_formats: Mapping[str, str] | None = None):
    """Keep an explicit TRANSPOSE when folding it into the FC's columns would break the
    structure of the FC's chosen format (an N:M pattern holds for one column order only)."""
    def keep(cand: FoldCandidate) -> bool:
        fc_mode = (layer_formats or {}).get(cand.fc.name, mode)
        stats = _stats(graph, cand.fc)
        enc, _ = choose(_w2d(cand.fc), stats, cand.fc.name, fc_mode, cost_model, objective)
        try:
            get_format(enc.format).encode(cand.permuted_weights(), cand.fc.name)
        except WeightFormatError:
            return True
        return False
    return keep


def _is_2x2_maxpool(op) -> bool:
    return (op.kind == "MAX_POOL_2D" and op.filter == (2, 2) and op.stride == (2, 2)
            and op.padding == (0, 0, 0, 0) and op.act_min == -128 and op.act_max == 127)


def build_layers(graph: Graph, mode: str, cost_model: CostModel | None,
                 objective: str, layer_formats: Mapping[str, str] | None = None) -> list[Layer]:
    """The executed layers; weighted ones get an encoding chosen by `mode`, or by
    `layer_formats[op name]` where given (a latency-aware allocation decides per layer)."""
    layer_formats = layer_formats or {}
    root: dict[str, str] = {graph.input: graph.input}
    layers: list[Layer] = []
    ops = graph.ops
    fused: set[int] = set()
    for i, op in enumerate(ops):
        if i in fused:
            continue
        opdef = get_op(op.kind)
        for key in opdef.inputs(op):
            root.setdefault(key, key)
        if opdef.c_alias:
            root[op.output] = root[op.input]
            continue
        root.setdefault(op.output, op.output)
        inputs = [root[key] for key in opdef.inputs(op)]
        layer = Layer(op.name, opdef.short, op, inputs, op.output)
        if op.kind == "CONV_2D" and i + 1 < len(ops) and _is_2x2_maxpool(ops[i + 1]) \
                and ops[i + 1].input == op.output and len(graph.consumers(op.output)) == 1 \
                and op.output != graph.output:
            pool = ops[i + 1]
            layer.fused_pool = pool
            layer.name = f"{op.name}+{pool.name}"
            layer.output = pool.output
            root[pool.output] = pool.output
            fused.add(i + 1)
        if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            stats = _stats(graph, op)
            layer.encoding, layer.candidates = choose(
                _w2d(op), stats, op.name, layer_formats.get(op.name, mode), cost_model,
                objective)
            layer.macs = stats.dense_macs
            layer.positions = stats.positions
        layers.append(layer)
    return layers


def _scratch_sizes(graph: Graph, layers: list[Layer]) -> None:
    """Kernel scratch per layer, from the tdnn *_get_buffer_size functions built for the host:
    the C library is the only place the sizes are written down (no Python mirror to drift)."""
    try:
        host = load_hostlib()
    except (ImportError, FirmwareError, OSError) as exc:
        raise FirmwareError(f"the C generator sizes kernel scratch buffers with tdnn's own "
                            f"*_get_buffer_size functions, built for this machine, and could "
                            f"not build them: {exc}") from exc
    for layer in layers:
        op = layer.op
        if layer.kind not in ("conv", "fc"):
            continue
        x = graph.tensors[op.input].shape
        if layer.kind == "conv":
            spec = ConvSpec(op.weights.shape[1], op.weights.shape[2], op.stride, op.padding,
                            -op.input_zero_point, op.output_zero_point,
                            (op.act_min, op.act_max), layer.fused_pool is not None)
            layer.scratch = host.conv_buffer_size(tuple(x[1:]), layer.encoding, spec)
        else:
            layer.scratch = host.fc_buffer_size(int(np.prod(x[1:])), layer.encoding)


# ---- C text ------------------------------------------------------------------------------

def _ident(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)


#: the C element type of each tensor dtype at the model's edges
C_TYPES = {"int8": "int8_t", "uint8": "uint8_t", "float32": "float"}


def c_literal(v) -> str:
    """One array element as C: integers as they are, float32 as an exact hex literal."""
    if isinstance(v, np.floating):
        if not np.isfinite(v):
            raise ExportError(f"cannot write the non-finite float {v} as a C constant")
        return c_float(v)
    return str(int(v))


def _c_array(name: str, ctype: str, values: np.ndarray, *, static: bool = True) -> str:
    flat = np.asarray(values).reshape(-1)
    body = []
    per_line = 16 if flat.dtype.itemsize <= 2 else 8
    for i in range(0, len(flat), per_line):
        body.append("    " + ", ".join(c_literal(v) for v in flat[i : i + per_line]) + ",")
    if not body:
        body = ["    0,"]  # C forbids empty initialisers; size stays explicit
    storage = "static " if static else ""
    return (f"{storage}alignas(16) const {ctype} {name}[{max(len(flat), 1)}] = {{\n"
            + "\n".join(body) + "\n};\n")


def _float(x: float) -> str:
    text = f"{float(np.float32(x)):.9g}"
    return f"{text}f" if any(ch in text for ch in ".e") else f"{text}.0f"  # "0f" is not C


def _dims(shape) -> str:
    s = tuple(int(v) for v in shape)
    if len(s) == 4:
        return f"{{{s[0]}, {s[1]}, {s[2]}, {s[3]}}}"
    return f"{{1, 1, 1, {int(np.prod(s[1:]))}}}"


class _Emitter:
    def __init__(self, graph: Graph, layers: list[Layer], offsets: dict[str, int]) -> None:
        self.g = graph
        self.layers = layers
        self.offsets = offsets
        self.decls: list[str] = []
        self.calls: list[str] = []
        self.user_formats: dict[str, type[WeightFormat]] = {}  # formats with own C files
        self.helpers: dict[str, str] = {}

    def user_files(self) -> dict[str, str]:
        """File name -> text of the C files of the user's formats this model uses."""
        return {p.name: p.read_text() for cls in self.user_formats.values()
                for p in cls.c_sources()}

    def user_headers(self) -> list[str]:
        return sorted(p.name for cls in self.user_formats.values() for p in cls.c_sources()
                      if p.suffix == ".h")

    def ptr(self, key: str) -> str:
        if key == self.g.input:
            return "input"
        if key == self.out_root:
            return "output"
        return f"(arena + {self.offsets[key]})"

    def quant_arrays(self, p: str, op) -> None:
        self.decls.append(_c_array(f"{p}_bias", "int32_t", op.bias.astype(np.int32)))
        self.decls.append(_c_array(f"{p}_multiplier", "int32_t", op.multiplier))
        self.decls.append(_c_array(f"{p}_shift", "int32_t", op.shift))
        self.decls.append(f"static const td_quant_params {p}_quant = "
                          f"{{{p}_multiplier, {p}_shift}};\n")

    def weights(self, p: str, enc: EncodedWeights) -> str:
        """Emit the weight arrays (+ descriptor); return the C expression passed to the kernel."""
        fmt = get_format(enc.format)
        if fmt.c_files:
            self.user_formats[fmt.name] = type(fmt)
        for field_name, arr in enc.arrays.items():
            self.decls.append(_c_array(f"{p}_{field_name}", enc.c_type(field_name), arr))
        if fmt.descriptor is not None:
            self.decls.append(fmt.descriptor.c_initialiser(p, enc))
        return fmt.weight_arg(p)

    def conv_taps(self, p: str, layer: Layer) -> str:
        """Emit the td_conv_taps of a sparse conv (offsets for this input geometry)."""
        op = layer.op
        _, w, c = self.g.tensors[op.input].shape[1:]
        band_w = w + op.padding[1] + op.padding[3]
        taps = conv_taps(layer.encoding, op.weights.shape[1], op.weights.shape[2], c, band_w)
        self.decls.append(_c_array(f"{p}_taps_data", "uint32_t", taps))
        self.decls.append(
            f"static const td_conv_taps {p}_taps = {{.band_w = {band_w}, .in_c = {c}, "
            f".entries = {taps.size}, .taps = {p}_taps_data}};\n")
        return f"&{p}_taps"

    def weight_args(self, p: str, layer: Layer) -> WeightArgs:
        """Emit the layer's weights (arrays and descriptor); what its kernel call needs."""
        fmt = get_format(layer.encoding.format)
        conv = layer.kind == "conv"
        stored = fmt.for_conv(layer.encoding) if conv else layer.encoding
        return WeightArgs(fmt.kernel, self.weights(p, stored), fmt.descriptor is not None,
                          conv and fmt.conv_taps)

    def helper(self, name: str, text: str) -> None:
        """A static C function model.c defines once, before tdm_invoke (e.g. a permute)."""
        self.helpers.setdefault(name, text)

    @staticmethod
    def array(name: str, ctype: str, values: np.ndarray) -> str:
        return _c_array(name, ctype, values)

    @staticmethod
    def dims(shape: tuple[int, ...]) -> str:
        return _dims(shape)

    def call(self, idx: int, layer: Layer, scratch_off: int | None) -> None:
        """The C of one layer: its op's emitter between the profiling hooks and the status
        check."""
        call = EmitCall(idx=idx, layer=layer, p=_ident(layer.op.name),
                        ins=[self.ptr(k) for k in layer.inputs], out=self.ptr(layer.output),
                        scratch=f"(arena + {scratch_off})" if layer.scratch else "NULL",
                        fail=f"return {idx + 1};")
        lines = [f"    /* {idx}: {layer.name} */", f"    TDM_BEGIN({idx});",
                 *get_op(layer.op.kind).emit_c(self, call),
                 f"    TDM_END({idx});", f"    if (st != TD_OK) {call.fail}"]
        self.calls.append("\n".join(lines))


def _io_types(g: Graph) -> str:
    """The I/O element types and dtype macros of model.h."""
    lines = []
    for side, t in (("INPUT", g.input_tensor), ("OUTPUT", g.output_tensor)):
        lines += [f"typedef {C_TYPES[t.dtype]} tdm_{side.lower()}_t;",
                  f'#define TDM_{side}_DTYPE "{t.dtype}"',
                  f"#define TDM_{side}_IS_{t.dtype.upper()} 1"]
    return "\n".join(lines)


def _header(g: Graph, layers: list[Layer], arena: int, provenance: str) -> str:
    tin, tout = g.input_tensor, g.output_tensor
    names = ", ".join(f'"{layer.name}"' for layer in layers)
    in_c, out_c = C_TYPES[tin.dtype], C_TYPES[tout.dtype]
    float_note = ("\n/* float32 input / output: not quantized, their scale and zero point "
                  "read 0 (the model's QUANTIZE / DEQUANTIZE convert). */"
                  if "float32" in (tin.dtype, tout.dtype) else "")
    return f"""/* model.h - generated by tinydeploy; do not edit. {provenance} */
#ifndef TDM_MODEL_H
#define TDM_MODEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

/* Input: {tin.dtype} {tin.layout} {list(tin.shape)}; output: {tout.dtype} {list(tout.shape)}. */
{_io_types(g)}
/* Elements (bytes: times sizeof(tdm_input_t) / sizeof(tdm_output_t)). */
#define TDM_INPUT_SIZE {tin.size}
#define TDM_OUTPUT_SIZE {tout.size}
/* Activation scratch the caller provides, incl. kernel scratch (4-byte aligned). */
#define TDM_ARENA_SIZE {max(arena, 1)}
#define TDM_NUM_LAYERS {len(layers)}
#define TDM_INPUT_SCALE {_float(tin.scale)}
#define TDM_INPUT_ZERO_POINT {tin.zero_point}
#define TDM_OUTPUT_SCALE {_float(tout.scale)}
#define TDM_OUTPUT_ZERO_POINT {tout.zero_point}{float_note}

/* Layer names: {names} */
extern const char *const tdm_layer_names[TDM_NUM_LAYERS];

/* Run the model. Returns 0 on success, 1 + index of the failing layer otherwise
 * (a kernel error, or a kernel needing more scratch than planned). */
int tdm_invoke(const {in_c} *input, {out_c} *output, int8_t *arena);

/* Self-check: tdm_invoke(tdm_golden_input) must give exactly tdm_golden_output (float32:
 * the same bits, TFLM's arithmetic). */
extern const {in_c} tdm_golden_input[TDM_INPUT_SIZE];
extern const {out_c} tdm_golden_output[TDM_OUTPUT_SIZE];

/* With TDM_PROFILE defined when compiling model.c, tdm_invoke calls these (app-provided). */
void tdm_layer_begin(int layer);
void tdm_layer_end(int layer);

#ifdef __cplusplus
}}
#endif

#endif /* TDM_MODEL_H */
"""


def _source(em: _Emitter, layers: list[Layer], golden_in, golden_out, provenance: str) -> str:
    in_c, out_c = C_TYPES[em.g.input_tensor.dtype], C_TYPES[em.g.output_tensor.dtype]
    names = ",\n".join(f'    "{layer.name}"' for layer in layers)
    parts = [
        f"/* model.c - generated by tinydeploy; do not edit. {provenance} */\n",
        '#include "model.h"\n\n#include <stddef.h>\n\n#include "tdnn.h"\n',
        *(f'#include "{name}"\n' for name in em.user_headers()),
        "#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L\n"
        "#include <stdalign.h>\n#endif\n#ifndef alignas\n"
        "#define alignas(n) __attribute__((aligned(n)))\n#endif\n",
        "#ifdef TDM_PROFILE\n#define TDM_BEGIN(i) tdm_layer_begin(i)\n"
        "#define TDM_END(i) tdm_layer_end(i)\n#else\n#define TDM_BEGIN(i) ((void)0)\n"
        "#define TDM_END(i) ((void)0)\n#endif\n",
        f"const char *const tdm_layer_names[TDM_NUM_LAYERS] = {{\n{names}\n}};\n",
        _c_array("tdm_golden_input", in_c, golden_in, static=False).replace(
            f"[{golden_in.size}]", "[TDM_INPUT_SIZE]"),
        _c_array("tdm_golden_output", out_c, golden_out, static=False).replace(
            f"[{golden_out.size}]", "[TDM_OUTPUT_SIZE]"),
        *em.decls,
    ]
    parts.extend(em.helpers.values())
    parts.append(
        f"int tdm_invoke(const {in_c} *input, {out_c} *output, int8_t *arena)\n{{\n"
        "    td_status st = TD_OK;\n"
        "    if (input == NULL || output == NULL || arena == NULL) return -1;\n"
        + "\n".join(em.calls) + "\n    (void)st;\n    return 0;\n}\n")
    return "\n".join(parts)


# ---- entry point -------------------------------------------------------------------------

def provenance_line(tflite: bytes, sparse: str, objective: str) -> str:
    """What the generated files were made from: the input's hash and the tool's version and
    options, never a date, so the same inputs give byte-identical files."""
    from tinydeploy import __version__

    digest = hashlib.sha256(tflite).hexdigest()[:16]
    return (f"From .tflite sha256:{digest} by tinydeploy {__version__}, --sparse {sparse}, "
            f"objective {objective}.")


def generate_c(graph: Graph, sparse: str = "auto", golden_input: np.ndarray | None = None,
               cost_model: CostModel | None = None, objective: str = "bytes",
               provenance: str = "", layer_formats: Mapping[str, str] | None = None
               ) -> GeneratedModel:
    """Plan and emit the C model. `golden_input`: one input (input shape without batch, in
    the model's input dtype).
    `provenance` (see `provenance_line`) goes into the files' first comment. `layer_formats`
    maps weighted op names to a format (dense, csr, csrd, nm<N>_<M>, ...) overriding `sparse`
    for those layers."""
    mode = validate_mode(sparse)
    weighted = [op.name for op in graph.ops if hasattr(op, "weights")]
    for name, fmt in (layer_formats or {}).items():
        if name not in weighted:
            raise ExportError(f"layer_formats names {name!r}, which is not a weighted layer; "
                              f"choose from: {', '.join(weighted)}")
        validate_mode(fmt)
    supported = c_supported()
    bad = sorted({op.kind for op in graph.ops if op.kind not in supported})
    if bad:
        raise ExportError(f"the C generator does not support {', '.join(bad)} yet "
                          f"(supported: {', '.join(supported)})")
    g = fold_transposes(graph, keep=_keep_transpose(mode, graph, cost_model, objective,
                                                    layer_formats))
    g = fold_pads(g)  # a PAD in front of a conv becomes the conv's explicit padding
    layers = build_layers(g, mode, cost_model, objective, layer_formats)
    if not layers:
        raise ExportError("the model has no layers to execute")
    _scratch_sizes(g, layers)

    out_root = layers[-1].output
    if out_root != g.output and g.tensors[out_root].size != g.output_tensor.size:
        raise ExportError("the graph output is not produced by its last layer")
    buffers: dict[str, Buffer] = {}
    for i, layer in enumerate(layers):
        if layer.output != out_root and layer.output not in buffers:
            buffers[layer.output] = Buffer(layer.output, g.tensors[layer.output].nbytes, i, i)
        for key in layer.inputs:
            if key in buffers:
                buffers[key].last = max(buffers[key].last, i)
    scratch = {i: Buffer(f"scratch{i}", layer.scratch, i, i)
               for i, layer in enumerate(layers) if layer.scratch}
    all_bufs = [*buffers.values(), *scratch.values()]
    arena = plan(all_bufs)
    check_plan(all_bufs)

    in_dtype = g.input_tensor.dtype
    if golden_input is None:
        golden_input = np.zeros(g.input_tensor.shape[1:], dtype=in_dtype)
    golden_input = np.asarray(golden_input, dtype=in_dtype).reshape(g.input_tensor.shape[1:])
    golden_output = run_reference(g, golden_input[None])[0]

    em = _Emitter(g, layers, {k: b.offset for k, b in buffers.items()})
    em.out_root = out_root
    for i, layer in enumerate(layers):
        em.call(i, layer, scratch[i].offset if i in scratch else None)
    stamp = provenance
    header = _header(g, layers, arena, stamp)
    source = _source(em, layers, golden_input.reshape(-1), golden_output.reshape(-1), stamp)
    report = size_report(g, layers, arena, mode, cost_model, objective)
    return GeneratedModel(header, source, g, layers, arena, report, golden_input, golden_output,
                          em.user_files())


def size_report(g: Graph, layers: list[Layer], arena: int, mode: str,
                cost_model: CostModel | None, objective: str) -> dict[str, Any]:
    rows = []
    for layer in layers:
        if layer.encoding is None:
            continue
        op = layer.op
        dense_bytes = int(op.weights.size)
        nnz = int(np.count_nonzero(op.weights))
        wbytes = flash_bytes(layer.encoding, layer.kind)
        rows.append({
            "layer": layer.name, "op": op.kind, "weight_shape": list(op.weights.shape),
            "nnz": nnz, "density": nnz / op.weights.size, "macs": layer.macs,
            "nnz_macs": nnz * layer.positions if op.kind != "FULLY_CONNECTED" else nnz,
            "bytes_per_format": {c["format"]: c["bytes"] for c in layer.candidates},
            "est_instructions_per_format": {
                c["format"]: c["est_instructions"] for c in layer.candidates
                if c["est_instructions"] is not None},
            "chosen": layer.encoding.format, "weight_bytes": wbytes,
            "dense_bytes": dense_bytes, "ratio_vs_dense": wbytes / dense_bytes,
            "quant_bytes": 4 * 3 * len(op.bias), "scratch_bytes": layer.scratch,
        })
    total = sum(r["weight_bytes"] for r in rows)
    dense = sum(r["dense_bytes"] for r in rows)
    return {
        "sparse": mode, "objective": objective,
        "cost_model": cost_model.source if cost_model else None,
        "layers": rows,
        "executed_layers": [layer.name for layer in layers],
        "total_weight_bytes": total, "total_dense_bytes": dense,
        "ratio_vs_dense": total / dense if dense else 1.0,
        "total_quant_bytes": sum(r["quant_bytes"] for r in rows),
        "arena_bytes": arena,
        "input_bytes": g.input_tensor.nbytes, "output_bytes": g.output_tensor.nbytes,
        "input_dtype": g.input_tensor.dtype, "output_dtype": g.output_tensor.dtype,
        "total_macs": sum(r["macs"] for r in rows),
        "transposes_kept": sum(1 for layer in layers if layer.kind == "transpose"),
    }


def report_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"## C weights (`--sparse {report['sparse']}`)", "",
        "| layer | op | shape | nnz | density | MACs | formats (bytes) | chosen | bytes | "
        "vs dense |", "|---|---|---|---:|---:|---:|---|---|---:|---:|",
    ]
    for r in report["layers"]:
        fmts = ", ".join(f"{k} {v}" for k, v in r["bytes_per_format"].items())
        lines.append(
            f"| {r['layer']} | {r['op']} | {'x'.join(map(str, r['weight_shape']))} | {r['nnz']} "
            f"| {r['density']:.3f} | {r['macs']} | {fmts} | {r['chosen']} | {r['weight_bytes']} "
            f"| {100 * r['ratio_vs_dense']:.1f}% |")
    lines += [
        "", f"Total weight bytes {report['total_weight_bytes']} vs dense int8 "
        f"{report['total_dense_bytes']} ({100 * report['ratio_vs_dense']:.1f}%); "
        f"bias/multiplier/shift {report['total_quant_bytes']} B; activation arena "
        f"{report['arena_bytes']} B (TDM_ARENA_SIZE); MACs (dense count) {report['total_macs']}.",
        "Byte and MAC counts are computed from the arrays (theoretical), not measured.", ""]
    return "\n".join(lines)
