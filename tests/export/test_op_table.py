"""The IR's op table: it covers every op the reader has supported, and a new op is one file
that the reader, the shape check and the reference executor all reach."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import tinydeploy.ir.ops as op_table
from tinydeploy.errors import ExportError
from tinydeploy.ir import read_tflite
from tinydeploy.ir.ops import OpDef, get_op, register, supported_ops
from tinydeploy.ir.reference import run
from tinydeploy.ir.tflite_reader import SUPPORTED_OPS

# Every op the reader read before the table existed, in the order its error message listed
# them, with the stem of the op names it gave (conv1, conv2, ...).
BUILTIN_SHORT = {
    "CONV_2D": "conv", "DEPTHWISE_CONV_2D": "dwconv", "MAX_POOL_2D": "maxpool",
    "AVERAGE_POOL_2D": "avgpool", "FULLY_CONNECTED": "fc", "ADD": "add",
    "RESHAPE": "reshape", "TRANSPOSE": "transpose", "SOFTMAX": "softmax",
    # ops added later follow in the order their modules register (file names, alphabetical)
    "CONCATENATION": "concat", "DEQUANTIZE": "dequantize", "HARD_SWISH": "hardswish",
    "LOGISTIC": "logistic", "MEAN": "mean", "PAD": "pad", "PADV2": "padv2",
    "QUANTIZE": "quantize",
}

# A toy op, written as a new op module would be. L2_POOL_2D shares MAX_POOL_2D's options
# table and shapes; the stand-in computes max pooling, so a model whose max pools are
# relabelled L2_POOL_2D must give the original outputs. CALLS shows which code ran.
TOY_MODULE = '''
from __future__ import annotations

from dataclasses import dataclass, field

from tinydeploy.errors import ExportError
from tinydeploy.ir.ops import register
from tinydeploy.ir.ops.base import OpDef
from tinydeploy.ir.ops.common import pad, spatial_out, windows
from tinydeploy.ir.prepare import padding

CALLS = {"read": 0, "check_shapes": 0, "reference": 0}


@dataclass
class L2Pool2D:
    name: str
    input: str
    output: str
    filter: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int, int, int]
    kind: str = field(default="L2_POOL_2D", init=False)


@register
class L2Pool2DDef(OpDef[L2Pool2D]):
    kind = "L2_POOL_2D"
    short = "l2pool"

    def read(self, ctx):
        CALLS["read"] += 1
        o = ctx.options("Pool2DOptions")
        filt, stride = (o.FilterHeight(), o.FilterWidth()), (o.StrideH(), o.StrideW())
        pads = padding(o.Padding(), ctx.tin.shape, ctx.tout.shape, filt, stride)
        return L2Pool2D(ctx.name, ctx.x, ctx.y, filt, stride, pads)

    def check_shapes(self, op, graph):
        CALLS["check_shapes"] += 1
        tin, tout = graph.tensors[op.input].shape, graph.tensors[op.output].shape
        if tout[1:3] != spatial_out(tin, op.padding, op.filter, op.stride):
            raise ExportError(f"{op.name}: shape mismatch")

    def reference(self, op, inputs, out_shape):
        CALLS["reference"] += 1
        (x,) = inputs
        return windows(pad(x, op.padding, -128), *op.filter, *op.stride,
                       *out_shape[1:3]).max(axis=(3, 4))
'''


@pytest.fixture
def scratch_table(monkeypatch):
    """The op table as it is, restored after the test (ops the test adds disappear)."""
    monkeypatch.setattr(op_table, "_REGISTRY", dict(op_table._REGISTRY))
    monkeypatch.setattr(op_table, "_loaded", op_table._loaded)
    return op_table


@pytest.fixture
def op_file_dir(scratch_table, monkeypatch, tmp_path):
    """A folder that the table searches for op modules as if it were part of the package."""
    monkeypatch.setattr(op_table, "__path__", [*op_table.__path__, str(tmp_path)])
    monkeypatch.setattr(op_table, "_loaded", False)
    added = set()
    yield tmp_path, added
    for name in added:
        sys.modules.pop(f"{op_table.__name__}.{name}", None)
        vars(op_table).pop(name, None)


def test_table_covers_every_builtin_op(dense_export, patch_opcode):
    assert supported_ops() == SUPPORTED_OPS == tuple(BUILTIN_SHORT)
    for kind, short in BUILTIN_SHORT.items():
        op = get_op(kind)
        assert isinstance(op, OpDef) and (op.kind, op.short) == (kind, short)
    assert [k for k in SUPPORTED_OPS if get_op(k).weighted] == [
        "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"]
    g = read_tflite(dense_export[1])
    assert [op.name for op in g.ops] == ["conv1", "maxpool1", "conv2", "maxpool2",
                                         "transpose1", "reshape1", "fc1", "fc2"]
    with pytest.raises(ExportError, match="; supported: " + ", ".join(BUILTIN_SHORT) + "$"):
        read_tflite(patch_opcode(dense_export[1], "MAX_POOL_2D", "TANH"))


def test_adding_an_op_is_one_file(op_file_dir, dense_export, patch_opcode, mnist,
                                  int8_inputs):
    folder, added = op_file_dir
    relabelled = patch_opcode(dense_export[1], "MAX_POOL_2D", "L2_POOL_2D")
    with pytest.raises(ExportError, match=r"unsupported TFLite op.*L2_POOL_2D"):
        read_tflite(relabelled)

    (folder / "l2pool.py").write_text(TOY_MODULE)
    added.add("l2pool")
    op_table._loaded = False  # a fresh process would discover the new file on first use
    assert supported_ops()[-1] == "L2_POOL_2D"
    toy = sys.modules[f"{op_table.__name__}.l2pool"]

    g = read_tflite(relabelled)
    assert [(op.kind, op.name) for op in g.ops if op.kind == "L2_POOL_2D"] == [
        ("L2_POOL_2D", "l2pool1"), ("L2_POOL_2D", "l2pool2")]
    assert toy.CALLS == {"read": 2, "check_shapes": 2, "reference": 0}
    assert g.consumers(g.ops[0].output) == [g.ops[1]]  # Graph asks the table for inputs

    x = int8_inputs(mnist.test_images[:100])
    assert np.array_equal(run(g, x), run(read_tflite(dense_export[1]), x))
    assert toy.CALLS["reference"] == 2
    # an op with only an IR side is read and run in numpy; the C generator names it
    from tinydeploy.codegen.generator import generate_c

    with pytest.raises(ExportError, match=r"the C generator does not support L2_POOL_2D yet"):
        generate_c(g, "dense")


def test_register_rejects_a_second_definition(scratch_table):
    class Again(type(get_op("ADD"))):
        pass

    with pytest.raises(ValueError, match="ADD is defined twice"):
        register(Again)

    class SameStem(OpDef):
        kind, short = "SUB", "add"

        def read(self, ctx):
            raise NotImplementedError

        def reference(self, op, inputs, out_shape):
            raise NotImplementedError

    with pytest.raises(ValueError, match="short name 'add' is taken by ADD"):
        register(SameStem)
    assert "SUB" not in supported_ops()


def test_the_c_side_of_an_op_is_its_op_units_emitter():
    from tinydeploy.codegen.generator import c_supported
    from tinydeploy.ir.ops import get_op

    assert c_supported() == ["CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D",
                             "FULLY_CONNECTED", "ADD", "RESHAPE", "TRANSPOSE", "SOFTMAX",
                             "CONCATENATION", "DEQUANTIZE", "HARD_SWISH", "LOGISTIC", "MEAN",
                             "PAD", "PADV2", "QUANTIZE"]
    assert get_op("RESHAPE").c_alias and get_op("RESHAPE").emit_c is None
    for kind in c_supported():
        emitter = get_op(kind).emit_c
        assert emitter is None or emitter.__module__ == type(get_op(kind)).__module__
