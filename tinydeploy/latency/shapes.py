"""Layer shapes as the cost tables key them, and a one-layer graph per shape.

A cost point is measured on a graph holding only the layer in question. With the real
layer's int8 parameters (`layer_params`: weights, bias, requantization, zero points, clamp)
the measurement is that layer's own; without them the layer is synthetic (seeded weights,
uniform requantization) and shared by every model with that shape. Either way the inputs of
a point are content (hashed), so a point is measured once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tinydeploy.errors import ExportError
from tinydeploy.ir.graph import Conv2D, FullyConnected, Graph, Pool2D, Tensor
from tinydeploy.quant.fixedpoint import quantize_multiplier

INPUT_SCALE, WEIGHT_SCALE, OUTPUT_SCALE = 1 / 255, 0.01, 0.05


@dataclass(frozen=True)
class LayerShape:
    """What a weighted layer's cost depends on. conv: in_shape (H, W, C), out_c, kernel,
    stride, padding (top, left, bottom, right), pool (a fused 2x2 max-pool follows);
    fc: in_shape (features,), out_c = output features."""

    op: str  # "conv" or "fc"
    in_shape: tuple[int, ...]
    out_c: int
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    pool: bool = False

    def key(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_key(cls, key: dict[str, Any]) -> LayerShape:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in key.items()})

    @property
    def k(self) -> int:
        """Columns of the weight matrix (rows = out_c)."""
        if self.op == "fc":
            return self.in_shape[0]
        return self.kernel[0] * self.kernel[1] * self.in_shape[2]

    @property
    def conv_out_hw(self) -> tuple[int, int]:
        h, w, _ = self.in_shape
        t, left, b, r = self.padding
        return ((h + t + b - self.kernel[0]) // self.stride[0] + 1,
                (w + left + r - self.kernel[1]) // self.stride[1] + 1)

    def label(self) -> str:
        if self.op == "fc":
            return f"fc {self.in_shape[0]}->{self.out_c}"
        h, w, c = self.in_shape
        pool = " +pool2" if self.pool else ""
        return (f"conv {h}x{w}x{c}->{self.out_c} {self.kernel[0]}x{self.kernel[1]} "
                f"s{self.stride[0]} p{self.padding[0]}{pool}")


def layer_shapes(graph: Graph) -> dict[str, LayerShape]:
    """The shape of every weighted layer of `graph` as the C generator will run it (a conv
    with a fused 2x2 max-pool is one layer), keyed by op name."""
    from tinydeploy.codegen.generator import build_layers

    shapes: dict[str, LayerShape] = {}
    for layer in build_layers(graph, "dense", None, "bytes"):
        op = layer.op
        x = graph.tensors[op.input].shape
        if op.kind == "FULLY_CONNECTED":
            shapes[op.name] = LayerShape("fc", (int(np.prod(x[1:])),), op.weights.shape[0])
        elif op.kind == "CONV_2D":
            shapes[op.name] = LayerShape(
                "conv", tuple(int(d) for d in x[1:]), int(op.weights.shape[0]),
                (int(op.weights.shape[1]), int(op.weights.shape[2])),
                tuple(int(s) for s in op.stride), tuple(int(p) for p in op.padding),
                layer.fused_pool is not None)
        elif op.kind == "DEPTHWISE_CONV_2D":
            raise ExportError(f"layer {op.name}: cost tables do not cover depthwise "
                              "convolutions yet")
    return shapes


def _seed(shape: LayerShape) -> int:
    digest = hashlib.sha256(json.dumps(shape.key(), sort_keys=True).encode()).digest()
    return int.from_bytes(digest[:8], "little")


PARAM_KEYS = ("weights", "bias", "multiplier", "shift", "zero_points", "clamp")


def layer_params(graph: Graph) -> dict[str, dict[str, np.ndarray]]:
    """The int8 parameters of every weighted op (weights as the rows x K matrix)."""
    out = {}
    for op in graph.weighted_ops():
        out[op.name] = {
            "weights": np.ascontiguousarray(op.weights.reshape(op.weights.shape[0], -1)),
            "bias": np.asarray(op.bias, np.int32),
            "multiplier": np.asarray(op.multiplier, np.int32),
            "shift": np.asarray(op.shift, np.int32),
            "zero_points": np.array([op.input_zero_point, op.output_zero_point], np.int32),
            "clamp": np.array([op.act_min, op.act_max], np.int32)}
    return out


def _synthetic_params(shape: LayerShape) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(_seed(shape))
    n, k = shape.out_c, shape.k
    mults, shifts = zip(*(quantize_multiplier(INPUT_SCALE * WEIGHT_SCALE / OUTPUT_SCALE)
                          for _ in range(n)), strict=True)
    return {"weights": rng.integers(-127, 128, (n, k), dtype=np.int8),
            "bias": rng.integers(-2000, 2000, n, dtype=np.int32),
            "multiplier": np.array(mults, np.int32), "shift": np.array(shifts, np.int32),
            "zero_points": np.array([-128, -5], np.int32), "clamp": np.array([-5, 127])}


def synthetic_graph(shape: LayerShape, name: str = "layer",
                    params: dict[str, np.ndarray] | None = None) -> Graph:
    """A graph of the one layer: with `params` (see `layer_params`) the real layer's int8
    parameters, else seeded weights in [-127, 127] and a uniform requantization."""
    p = params if params is not None else _synthetic_params(shape)
    n, k = shape.out_c, shape.k
    weights = np.asarray(p["weights"], np.int8)
    if weights.shape != (n, k):
        raise ExportError(f"layer parameters of shape {weights.shape} do not fit "
                          f"{shape.label()} ({n} x {k})")
    in_zp, out_zp = (int(v) for v in p["zero_points"])
    common = dict(
        bias=np.asarray(p["bias"], np.int32),
        weight_scales=np.full(n, WEIGHT_SCALE, np.float32),
        multiplier=np.asarray(p["multiplier"], np.int32),
        shift=np.asarray(p["shift"], np.int32),
        input_zero_point=in_zp, output_zero_point=out_zp,
        act_min=int(p["clamp"][0]), act_max=int(p["clamp"][1]))
    if shape.op == "fc":
        tensors = {"x": Tensor("x", (1, k), INPUT_SCALE, in_zp),
                   "y": Tensor("y", (1, n), OUTPUT_SCALE, out_zp)}
        op = FullyConnected(name, "x", "y", weights=weights, **common)
        return Graph(tensors, [op], "x", "y", source=f"synthetic {shape.label()}")
    h, w, c = shape.in_shape
    oh, ow = shape.conv_out_hw
    tensors = {"x": Tensor("x", (1, h, w, c), INPUT_SCALE, in_zp),
               "c": Tensor("c", (1, oh, ow, n), OUTPUT_SCALE, out_zp)}
    conv = Conv2D(name, "x", "c",
                  weights=weights.reshape(n, shape.kernel[0], shape.kernel[1], c),
                  stride=shape.stride, padding=shape.padding, **common)
    ops: list = [conv]
    out = "c"
    if shape.pool:
        tensors["p"] = Tensor("p", (1, oh // 2, ow // 2, n), OUTPUT_SCALE, out_zp)
        ops.append(Pool2D(f"{name}_pool", "c", "p", "max", (2, 2), (2, 2), (0, 0, 0, 0),
                          -128, 127))
        out = "p"
    return Graph(tensors, ops, "x", out, source=f"synthetic {shape.label()}")
