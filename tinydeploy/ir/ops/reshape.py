"""RESHAPE: the same int8 bytes under a new shape."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinydeploy.errors import ExportError
from tinydeploy.ir.ops import register
from tinydeploy.ir.ops.base import OpDef, ReadContext
from tinydeploy.ir.ops.common import same_quant


@dataclass
class Reshape:
    """RESHAPE: same bytes, new shape (a no-op on NHWC int8 data)."""

    name: str
    input: str
    output: str
    kind: str = field(default="RESHAPE", init=False)


@register
class ReshapeDef(OpDef[Reshape]):
    kind = "RESHAPE"
    short = "reshape"
    c_alias = True

    def read(self, ctx: ReadContext) -> Reshape:
        same_quant(ctx)
        tin, tout = ctx.tin, ctx.tout
        if tin.size != tout.size:
            raise ExportError(
                f"{ctx.source}: {ctx.name}: shape mismatch {tin.shape} -> {tout.shape}")
        return Reshape(name=ctx.name, input=ctx.x, output=ctx.y)

    def reference(self, op: Reshape, inputs, out_shape) -> np.ndarray:
        (x,) = inputs
        return x.reshape((len(x), *out_shape[1:]))
