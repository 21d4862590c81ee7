"""Numpy reference executor of the IR, bit-exact with TFLite Micro's reference kernels.

Vectorised over a batch of images: `run(graph, x)` takes inputs of shape (B, *input shape
without batch) and returns outputs (B, *output shape without batch), of the model's input
and output dtypes (int8; float32 or uint8 for a model with QUANTIZE / DEQUANTIZE edges). Each op's
kernel is the `reference` of its entry in the op table (`tinydeploy.ir.ops`).
"""

from __future__ import annotations

import numpy as np

from tinydeploy.errors import ExportError
from tinydeploy.ir.graph import Graph
from tinydeploy.ir.ops import find_op


def run(graph: Graph, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """inputs (B, *in_shape[1:]) -> outputs (B, *out_shape[1:]), in the model's dtypes."""
    x = np.asarray(x)
    in_shape = graph.input_tensor.shape
    in_dtype = graph.input_tensor.dtype
    if x.dtype != np.dtype(in_dtype) or tuple(x.shape[1:]) != tuple(in_shape[1:]):
        want = ", ".join(map(str, in_shape[1:]))
        raise ExportError(f"reference executor needs {in_dtype} input (B, {want}), "
                          f"got {x.dtype} {x.shape}")
    outs = [_run_batch(graph, x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    if not outs:
        return np.zeros((0, *graph.output_tensor.shape[1:]), dtype=graph.output_tensor.dtype)
    return np.concatenate(outs)


def _run_batch(graph: Graph, x: np.ndarray) -> np.ndarray:
    values = {graph.input: x}
    for op in graph.ops:
        opdef = find_op(op.kind)
        if opdef is None:
            raise ExportError(f"{op.name}: the reference executor does not implement {op.kind}")
        inputs = [values[name] for name in opdef.inputs(op)]
        values[op.output] = opdef.reference(op, inputs, graph.tensors[op.output].shape)
    return values[graph.output]
