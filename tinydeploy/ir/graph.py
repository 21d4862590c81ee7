"""IR dataclasses. Activations are int8 NHWC (batch 1); one field has one meaning. Only the
model's input and output may be float32 or uint8 (a converter's QUANTIZE / DEQUANTIZE edges).

`Tensor` and `Graph` live here; each op's dataclass lives with the rest of that op in
`tinydeploy.ir.ops` and is re-exported here under its old name.

Requantization per output channel follows TFLite Micro: real scale
s_in * s_w[c] / s_out ~= multiplier[c] * 2**(shift[c] - 31) (see tinydeploy.quant.fixedpoint).
act_min / act_max are the int8 clamp after the output zero point is added (fused ReLU etc.).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydeploy.ir.ops import get_op
from tinydeploy.ir.ops.add import Add
from tinydeploy.ir.ops.conv import Conv2D
from tinydeploy.ir.ops.depthwise_conv import DepthwiseConv2D
from tinydeploy.ir.ops.fully_connected import FullyConnected
from tinydeploy.ir.ops.pool import Pool2D
from tinydeploy.ir.ops.reshape import Reshape
from tinydeploy.ir.ops.softmax import Softmax
from tinydeploy.ir.ops.transpose import Transpose


@dataclass
class Tensor:
    """An activation tensor (int8, per-tensor quantized; float32 tensors have scale 0 and
    zero point 0)."""

    name: str
    shape: tuple[int, ...]  # NHWC for 4-D, (N, features) for 2-D
    scale: float
    zero_point: int
    dtype: str = "int8"  # "int8"; "uint8" or "float32" only at the model's edges

    @property
    def size(self) -> int:
        """Elements."""
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    @property
    def layout(self) -> str:
        """NHWC for 4-D activations, NC for flattened ones (as in the .tflite)."""
        return "NHWC" if len(self.shape) == 4 else "NC"


# The built-in ops; an op added as a file in tinydeploy.ir.ops is an Op too, by duck typing.
Op = Conv2D | DepthwiseConv2D | FullyConnected | Pool2D | Add | Reshape | Transpose | Softmax


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
        return [op for op in self.ops if get_op(op.kind).weighted]

    def consumers(self, tensor: str) -> list[Op]:
        return [op for op in self.ops if tensor in get_op(op.kind).inputs(op)]

    def summary(self) -> list[dict]:
        rows = []
        for op in self.ops:
            row = {"name": op.name, "op": op.kind,
                   "input": list(self.tensors[op.input].shape),
                   "output": list(self.tensors[op.output].shape)}
            if get_op(op.kind).weighted:
                row["weights"] = list(op.weights.shape)
                row["nnz"] = int(np.count_nonzero(op.weights))
            rows.append(row)
        return rows


__all__ = ["Add", "Conv2D", "DepthwiseConv2D", "FullyConnected", "Graph", "Op", "Pool2D",
           "Reshape", "Softmax", "Tensor", "Transpose"]
