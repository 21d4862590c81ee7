"""IR dataclasses. Activations are int8 NHWC (batch 1); one field has one meaning.

Requantization per output channel follows TFLite Micro: real scale
s_in * s_w[c] / s_out ~= multiplier[c] * 2**(shift[c] - 31) (see tinydeploy.quant.fixedpoint).
act_min / act_max are the int8 clamp after the output zero point is added (fused ReLU etc.).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Tensor:
    """An activation tensor (int8, per-tensor quantized)."""

    name: str
    shape: tuple[int, ...]  # NHWC for 4-D, (N, features) for 2-D
    scale: float
    zero_point: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def layout(self) -> str:
        """NHWC for 4-D activations, NC for flattened ones (as in the .tflite)."""
        return "NHWC" if len(self.shape) == 4 else "NC"


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


@dataclass
class FullyConnected:
    """FULLY_CONNECTED. weights int8 [out, in]; bias int32 [out]; multiplier/shift per output
    (per-tensor models repeat one value)."""

    name: str
    input: str
    output: str
    weights: np.ndarray
    bias: np.ndarray
    weight_scales: np.ndarray
    multiplier: np.ndarray
    shift: np.ndarray
    input_zero_point: int
    output_zero_point: int
    act_min: int
    act_max: int
    kind: str = field(default="FULLY_CONNECTED", init=False)


@dataclass
class Pool2D:
    """MAX_POOL_2D or AVERAGE_POOL_2D (TFLM semantics: padded cells excluded)."""

    name: str
    input: str
    output: str
    mode: str  # "max" or "avg"
    filter: tuple[int, int]  # (h, w)
    stride: tuple[int, int]
    padding: tuple[int, int, int, int]
    act_min: int
    act_max: int

    @property
    def kind(self) -> str:
        return "MAX_POOL_2D" if self.mode == "max" else "AVERAGE_POOL_2D"


@dataclass
class Add:
    """ADD of two same-shape int8 tensors, TFLM quantized-add parameters."""

    name: str
    input: str
    input2: str
    output: str
    input1_offset: int
    input1_multiplier: int
    input1_shift: int
    input2_offset: int
    input2_multiplier: int
    input2_shift: int
    left_shift: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int
    kind: str = field(default="ADD", init=False)


@dataclass
class Reshape:
    """RESHAPE: same bytes, new shape (a no-op on NHWC int8 data)."""

    name: str
    input: str
    output: str
    kind: str = field(default="RESHAPE", init=False)


@dataclass
class Transpose:
    """TRANSPOSE with permutation `perm` of the input dims."""

    name: str
    input: str
    output: str
    perm: tuple[int, ...]
    kind: str = field(default="TRANSPOSE", init=False)


@dataclass
class Softmax:
    """SOFTMAX over the last axis, int8 -> int8 (output scale 1/256, zero point -128), with
    TFLM's precomputed beta * input_scale multiplier and the smallest difference that counts."""

    name: str
    input: str
    output: str
    beta: float
    input_multiplier: int
    input_left_shift: int
    diff_min: int
    kind: str = field(default="SOFTMAX", init=False)


Op = Conv2D | DepthwiseConv2D | FullyConnected | Pool2D | Add | Reshape | Transpose | Softmax
WEIGHTED_KINDS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


@dataclass
class Graph:
    """Ops in execution order over named activation tensors."""

    tensors: dict[str, Tensor]
    ops: list[Op]
    input: str
    output: str
    source: str = ""

    @property
    def input_tensor(self) -> Tensor:
        return self.tensors[self.input]

    @property
    def output_tensor(self) -> Tensor:
        return self.tensors[self.output]

    def weighted_ops(self) -> list[Conv2D | DepthwiseConv2D | FullyConnected]:
        return [op for op in self.ops if op.kind in WEIGHTED_KINDS]

    def consumers(self, tensor: str) -> list[Op]:
        return [op for op in self.ops
                if op.input == tensor or getattr(op, "input2", None) == tensor]

    def summary(self) -> list[dict]:
        rows = []
        for op in self.ops:
            row = {"name": op.name, "op": op.kind,
                   "input": list(self.tensors[op.input].shape),
                   "output": list(self.tensors[op.output].shape)}
            if op.kind in WEIGHTED_KINDS:
                row["weights"] = list(op.weights.shape)
                row["nnz"] = int(np.count_nonzero(op.weights))
            rows.append(row)
        return rows
