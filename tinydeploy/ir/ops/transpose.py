"""TRANSPOSE by a constant permutation (onnx2tf's NHWC -> NCHW before a flatten)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinydeploy.errors import ExportError
from tinydeploy.ir.ops import register
from tinydeploy.ir.ops.base import CEmitter, EmitCall, OpDef, ReadContext
from tinydeploy.ir.ops.common import same_quant

PERMUTE_C = """
/* Generic 4-D int8 permutation: out[i0][i1][i2][i3] = in[...] with out dim k = in dim perm[k]. */
static void tdm_permute(td_status *st, const int8_t *in, int8_t *out, const int32_t in_dims[4],
                        const int32_t perm[4])
{
    int32_t in_stride[4], od[4], os[4], i0, i1, i2, i3, n = 0;
    in_stride[3] = 1;
    in_stride[2] = in_dims[3];
    in_stride[1] = in_dims[2] * in_dims[3];
    in_stride[0] = in_dims[1] * in_dims[2] * in_dims[3];
    for (i0 = 0; i0 < 4; ++i0) {
        od[i0] = in_dims[perm[i0]];
        os[i0] = in_stride[perm[i0]];
    }
    for (i0 = 0; i0 < od[0]; ++i0)
        for (i1 = 0; i1 < od[1]; ++i1)
            for (i2 = 0; i2 < od[2]; ++i2)
                for (i3 = 0; i3 < od[3]; ++i3)
                    out[n++] = in[i0 * os[0] + i1 * os[1] + i2 * os[2] + i3 * os[3]];
    *st = TD_OK;
}
"""


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

    def emit_c(self, em: CEmitter, call: EmitCall) -> list[str]:
        """A generic 4-D permute (model.c defines it once)."""
        op, p, g = call.layer.op, call.p, em.g
        em.helper("tdm_permute", PERMUTE_C)
        shape = (1,) * (4 - len(g.tensors[op.input].shape)) + g.tensors[op.input].shape
        extra = 4 - len(op.perm)
        perm = tuple(range(extra)) + tuple(q + extra for q in op.perm)
        em.decls.append(
            f"static const int32_t {p}_in_dims[4] = {{{', '.join(map(str, shape))}}};\n"
            f"static const int32_t {p}_perm[4] = {{{', '.join(map(str, perm))}}};\n")
        return [f"    tdm_permute(&st, {call.ins[0]}, {call.out}, {p}_in_dims, {p}_perm);"]
