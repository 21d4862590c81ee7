"""ADD of two same-shape int8 tensors (TFLM's quantized add, no broadcasting)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinydeploy.errors import ExportError
from tinydeploy.ir.ops import register
from tinydeploy.ir.ops.base import CEmitter, EmitCall, OpDef, ReadContext
from tinydeploy.ir.prepare import activation_range
from tinydeploy.quant.fixedpoint import (
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    requantize_to_int8,
)

ADD_LEFT_SHIFT = 20  # TFLM's left shift for int8 ADD


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


def input_tables(op: Add) -> tuple[np.ndarray, np.ndarray] | None:
    """The two 256-entry int32 tables td_add_s8 reads (index: the input byte as uint8):
    twice each input's rescaled value, as td_add_s8_fill_tables computes them; None where
    the kernel would not use them (left shift over 20, offsets outside [-128, 128])."""
    if op.left_shift > 20 or any(abs(o) > 128 for o in (op.input1_offset, op.input2_offset)):
        return None
    x = np.arange(256, dtype=np.int64).astype(np.uint8).astype(np.int8).astype(np.int64)
    tables = []
    for off, mult, shift in ((op.input1_offset, op.input1_multiplier, op.input1_shift),
                             (op.input2_offset, op.input2_multiplier, op.input2_shift)):
        scaled = multiply_by_quantized_multiplier((x + off) << op.left_shift, mult, shift)
        tables.append((2 * scaled).astype(np.int32))
    return tables[0], tables[1]


TIES_EXACT, TIES_UP, TIES_DOWN = 0, 1, 2  # TD_ADD_TIES_* (tdnn_types.h)


def table_ties(op: Add, tables: tuple[np.ndarray, np.ndarray]) -> int:
    """The cheapest td_add_params.table_ties giving TFLM's result for every one of the 65,536
    input pairs: the kernel's table arithmetic (td_add_s8_lut.c) rounding every tie up, then
    down, is evaluated on all of them against TFLM's reference; EXACT (always valid) else."""
    e = -op.output_shift
    if op.output_multiplier < 0 or not 1 <= e <= 31:
        return TIES_EXACT  # the table path does not run
    s2 = (tables[0].astype(np.int64)[:, None] + tables[1].astype(np.int64)[None, :]).ravel()
    ooff_in = op.output_offset if e <= 22 else 0
    c = (1 << (e - 1)) + ooff_in * (1 << e)
    high = ((s2 * op.output_multiplier + (1 << 31)) >> 32) + c  # SMMLAR(s2, m, c)

    def out(h: np.ndarray) -> np.ndarray:
        return np.clip((h >> e) + op.output_offset - ooff_in, op.act_min, op.act_max)

    v = np.arange(256).astype(np.uint8).astype(np.int8)
    want = AddDef().reference(op, (np.repeat(v, 256), np.tile(v, 256)), None)  # TFLM's
    for ties, h in ((TIES_UP, high), (TIES_DOWN, high - 1)):
        if np.array_equal(out(h), want):
            return ties
    return TIES_EXACT


@register
class AddDef(OpDef[Add]):
    kind = "ADD"
    short = "add"

    def read(self, ctx: ReadContext) -> Add:
        x2 = ctx.act(ctx.ins[1])
        tin, t2, tout = ctx.tin, ctx.tensors[x2], ctx.tout
        if t2.shape != tin.shape or tout.shape != tin.shape:
            raise ExportError(f"{ctx.source}: {ctx.name}: broadcasting ADD is not supported")
        o = ctx.options("AddOptions")
        # TFLM CalculateOpDataAdd: both inputs rescaled to twice the larger input scale
        twice_max = 2.0 * float(max(np.float32(tin.scale), np.float32(t2.scale)))
        m1, s1 = quantize_multiplier(float(np.float32(tin.scale)) / twice_max)
        m2, s2 = quantize_multiplier(float(np.float32(t2.scale)) / twice_max)
        mo, so = quantize_multiplier(
            twice_max / ((1 << ADD_LEFT_SHIFT) * float(np.float32(tout.scale))))
        lo, hi = activation_range(o.FusedActivationFunction() if o else 0, tout.scale,
                                  tout.zero_point)
        return Add(name=ctx.name, input=ctx.x, input2=x2, output=ctx.y,
                   input1_offset=-tin.zero_point, input1_multiplier=m1, input1_shift=s1,
                   input2_offset=-t2.zero_point, input2_multiplier=m2, input2_shift=s2,
                   left_shift=ADD_LEFT_SHIFT, output_offset=tout.zero_point,
                   output_multiplier=mo, output_shift=so, act_min=lo, act_max=hi)

    def inputs(self, op: Add) -> list[str]:
        return [op.input, op.input2]

    def reference(self, op: Add, inputs, out_shape) -> np.ndarray:
        a, b = inputs
        a1 = (a.astype(np.int64) + op.input1_offset) << op.left_shift
        b1 = (b.astype(np.int64) + op.input2_offset) << op.left_shift
        sa = multiply_by_quantized_multiplier(a1, op.input1_multiplier, op.input1_shift)
        sb = multiply_by_quantized_multiplier(b1, op.input2_multiplier, op.input2_shift)
        return requantize_to_int8(sa + sb, op.output_multiplier, op.output_shift,
                                  op.output_offset, op.act_min, op.act_max)

    def emit_c(self, em: CEmitter, call: EmitCall) -> list[str]:
        """td_add_s8 over the whole tensor, with the two input tables as constants (2 KB of
        flash: one table load per input and element instead of two requantisations)."""
        op, p = call.layer.op, call.p
        tables = input_tables(op)
        table_fields = ""
        if tables is not None:
            em.decls.append(em.array(f"{p}_table1", "int32_t", tables[0]))
            em.decls.append(em.array(f"{p}_table2", "int32_t", tables[1]))
            table_fields = (f",\n    .input1_table = {p}_table1, .input2_table = {p}_table2, "
                            f".table_ties = {table_ties(op, tables)}")
        em.decls.append(
            f"static const td_add_params {p}_params = {{\n    .input1_offset = "
            f"{op.input1_offset}, .input1_multiplier = {op.input1_multiplier}, "
            f".input1_shift = {op.input1_shift},\n    .input2_offset = {op.input2_offset}, "
            f".input2_multiplier = {op.input2_multiplier}, .input2_shift = "
            f"{op.input2_shift},\n    .left_shift = {op.left_shift}, .output_offset = "
            f"{op.output_offset}, .output_multiplier = {op.output_multiplier}, "
            f".output_shift = {op.output_shift},\n    .activation = {{.min = {op.act_min}, "
            f".max = {op.act_max}}}{table_fields}}};\n")
        size = em.g.tensors[op.output].size
        return [f"    st = td_add_s8(&{p}_params, {call.ins[0]}, {call.ins[1]}, {call.out}, "
                f"{size});"]

