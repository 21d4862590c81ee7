"""TRANSPOSE by a constant permutation (onnx2tf's NHWC -> NCHW before a flatten)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinydeploy.errors import ExportError
from tinydeploy.ir.ops import register
from tinydeploy.ir.ops.base import OpDef, ReadContext
from tinydeploy.ir.ops.common import same_quant


@dataclass
class Transpose:
    """TRANSPOSE with permutation `perm` of the input dims."""

    name: str
    input: str
    output: str
    perm: tuple[int, ...]
    kind: str = field(default="TRANSPOSE", init=False)


@register
class TransposeDef(OpDef[Transpose]):
    kind = "TRANSPOSE"
    short = "transpose"

    def read(self, ctx: ReadContext) -> Transpose:
        same_quant(ctx)
        perm = ctx.reader.constant(ctx.ins[1])
        if perm is None:
            raise ExportError(f"{ctx.source}: {ctx.name}: permutation must be constant")
        perm_t = tuple(int(p) for p in perm.reshape(-1))
        if tuple(ctx.tin.shape[p] for p in perm_t) != ctx.tout.shape:
            raise ExportError(
                f"{ctx.source}: {ctx.name}: shape mismatch for permutation {perm_t}")
        return Transpose(name=ctx.name, input=ctx.x, output=ctx.y, perm=perm_t)

    def reference(self, op: Transpose, inputs, out_shape) -> np.ndarray:
        (x,) = inputs
        if op.perm[0] != 0:  # the executor runs a batch of images along axis 0
            raise ExportError(f"{op.name}: transposing the batch dimension is unsupported")
        return np.ascontiguousarray(x.transpose(op.perm))
