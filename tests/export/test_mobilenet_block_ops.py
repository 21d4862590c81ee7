"""PAD, MEAN, CONCATENATION and fused ReLU6 on a converter-produced MobileNetV2-style int8
model (tests/mobilenet_block.py): the numpy reference executor == TFLite Micro, the generated
C (host build) == TFLite Micro with the PADs in front of convolutions folded into their
padding, `tinydeploy export --tflite M --to c` accepts the model, and the variants tinydeploy
does not support (MEAN over channels, non-constant paddings, concatenated inputs quantized
unlike the output) are ExportErrors naming them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from mobilenet_block import (
    mobilenet_block_tflite,
    operators,
    padv2_tflite,
    random_inputs,
    saturating_relu6_tflite,
    set_buffer,
    set_quantization,
    wide_pads_tflite,
)
from tools_required import required_module, unavailable

from tinydeploy.errors import ExportError
from tinydeploy.export.runtimes import run_tflm
from tinydeploy.ir import read_tflite
from tinydeploy.ir.prepare import activation_range
from tinydeploy.ir.reference import run

N = 300
RELU6 = 3


@pytest.fixture(scope="module")
def block() -> bytes:
    required_module("tensorflow")
    return mobilenet_block_tflite()


@pytest.fixture
def gcc() -> None:
    import shutil

    if shutil.which("gcc") is None:
        unavailable("host gcc is not installed")


def host_outputs(gen, x: np.ndarray, out_size: int, tmp_path: Path) -> np.ndarray:
    from tinydeploy.codegen.host import build_host_runner, run_host

    (tmp_path / "c").mkdir(parents=True)
    for name, text in gen.files.items():
        (tmp_path / "c" / name).write_text(text)
    return run_host(build_host_runner(tmp_path / "c", tmp_path / "b"), x, out_size)


def test_converter_emits_the_ops_and_fused_relu6(block):
    kinds = [op.kind for op in read_tflite(block).ops]
    assert kinds.count("PAD") == 3 and kinds.count("MEAN") == 3
    assert kinds.count("CONCATENATION") == 3
    import tflite

    options = {"CONV_2D": tflite.Conv2DOptions, "DEPTHWISE_CONV_2D":
               tflite.DepthwiseConv2DOptions, "ADD": tflite.AddOptions,
               "FULLY_CONNECTED": tflite.FullyConnectedOptions}
    for kind, cls in options.items():
        fused = []
        for fb_op in operators(block, kind):
            o = cls()
            o.Init(fb_op.BuiltinOptions().Bytes, fb_op.BuiltinOptions().Pos)
            fused.append(o.FusedActivationFunction())
        assert RELU6 in fused, (kind, fused)  # ReLU6 fused into every kind of op


def test_relu6_clamps_are_tflm_activation_range(block):
    """A ReLU6-fused op's clamp is [quantize(0), quantize(6)] within int8, in float32 like
    TFLM's CalculateActivationRangeQuantized."""
    g = read_tflite(block)
    add = next(op for op in g.ops if op.kind == "ADD")
    t = g.tensors[add.output]
    assert (add.act_min, add.act_max) == activation_range(RELU6, t.scale, t.zero_point)
    assert add.act_min == t.zero_point  # ReLU's lower bound is the output zero point
    six = t.zero_point + round(6.0 / t.scale)
    assert add.act_max == min(127, six)


@pytest.mark.usefixtures("gcc")
def test_relu6_clamp_below_int8_max_equals_tflm(tmp_path):
    """The converter calibrates a ReLU6 output to at most [0, 6], so 6.0 lands on 127 (or
    beyond) and only the lower clamp is ever tighter than int8. With the ReLU6 conv's and
    Dense's output scales doubled, 6.0 quantizes to about 0 and the upper RELU6 clamp binds
    too: reference, C and TFLite Micro still agree."""
    from tinydeploy.codegen import generate_c

    required_module("tensorflow")
    tfl = saturating_relu6_tflite()
    g = read_tflite(tfl)
    conv, _, fc1, _ = g.ops
    assert conv.act_max == fc1.act_max == 127  # the converter's [0, 6] ranges
    patched = tfl
    for key in (conv.output, g.ops[1].output, fc1.output):  # the RESHAPE keeps the conv's
        t = g.tensors[key]
        patched = set_quantization(patched, int(key[1:]), 2 * t.scale, t.zero_point)
    g = read_tflite(patched)
    x = np.random.default_rng(9).integers(-128, 128, size=(N, 4, 4, 3)).astype(np.int8)
    for op in (g.ops[0], g.ops[2]):
        t = g.tensors[op.output]
        assert op.act_max == activation_range(RELU6, t.scale, t.zero_point)[1] < 10
        head = dataclasses.replace(g, ops=g.ops[:g.ops.index(op) + 1], output=op.output)
        assert (run(head, x) == op.act_max).mean() > 0.2, op.name  # the upper clamp binds
    want = run_tflm(patched, x).reshape(N, 4)
    assert np.array_equal(run(g, x).reshape(N, 4), want)
    gen = generate_c(g, "dense", golden_input=x[0])
    assert np.array_equal(host_outputs(gen, x, 4, tmp_path), want)


def test_reference_equals_tflm(block):
    x = random_inputs(N)
    g = read_tflite(block)
    ref = run(g, x).reshape(N, -1)
    assert np.array_equal(ref, run_tflm(block, x).reshape(N, -1))
    # the intermediate outputs vary (no op is a constant in disguise)
    for op in g.ops:
        if op.kind in ("MEAN", "CONCATENATION", "FULLY_CONNECTED"):
            inner = run(dataclasses.replace(g, ops=g.ops[:g.ops.index(op) + 1],
                                            output=op.output), x)
            assert np.unique(inner).size > 10, op.name


@pytest.mark.usefixtures("gcc")
def test_generated_c_equals_tflm_with_pads_folded(block, tmp_path):
    from tinydeploy.codegen import generate_c

    x = random_inputs(N, seed=2)
    g = read_tflite(block)
    gen = generate_c(g, "dense", golden_input=x[0])
    pads = [op for op in gen.graph.ops if op.kind == "PAD"]
    assert len(pads) == 1 and gen.graph.consumers(pads[0].output)[0].kind == "MAX_POOL_2D"
    dw = next(op for op in gen.graph.ops if op.kind == "DEPTHWISE_CONV_2D" and op.stride == (2, 2))
    assert dw.padding == (1, 1, 1, 1)  # ZeroPadding2D(1) + VALID
    assert next(op for op in gen.graph.ops if op.name == "conv7").padding == (1, 2, 1, 0)
    for fn in ("td_pad_s8(", "td_mean_s8(", "td_concat_s8("):
        assert fn in gen.source
    got = host_outputs(gen, x, 10, tmp_path)
    assert np.array_equal(got, run_tflm(block, x).reshape(N, 10))


@pytest.mark.usefixtures("gcc")
@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_pads_wider_than_the_kernel_fold_exactly(fmt, tmp_path):
    """Folded pads of 2 and 3 cells around 1x1 and 3x3 kernels (windows wholly in padding)
    through the dense and the sparse conv kernels: the C equals TFLite Micro."""
    from tinydeploy.codegen import generate_c

    required_module("tensorflow")
    tfl = wide_pads_tflite()
    g = read_tflite(tfl)
    assert [op.kind for op in g.ops].count("PAD") == 3
    x = np.random.default_rng(6).integers(-128, 128, size=(200, 6, 6, 4)).astype(np.int8)
    want = run_tflm(tfl, x).reshape(200, 5)
    assert np.array_equal(run(g, x).reshape(200, 5), want)
    gen = generate_c(g, fmt, golden_input=x[0])
    assert [op.padding for op in gen.graph.ops if hasattr(op, "padding")] == [
        (2, 2, 2, 2), (3, 0, 0, 3), (3, 3, 3, 3)]
    assert np.array_equal(host_outputs(gen, x, 5, tmp_path), want)


@pytest.mark.usefixtures("gcc")
def test_padv2_with_a_constant_value_equals_tflm(tmp_path):
    """PADV2 (tf.pad, constant 0.5, channels padded too) runs as td_pad_s8 with its value."""
    from tinydeploy.codegen import generate_c

    required_module("tensorflow")
    tfl = padv2_tflite()
    g = read_tflite(tfl)
    (pad,) = [op for op in g.ops if op.kind == "PADV2"]
    t = g.tensors[pad.output]
    assert pad.paddings == ((0, 0), (1, 2), (0, 1), (1, 0))
    assert pad.value == t.zero_point + round(0.5 / t.scale) != t.zero_point
    x = np.random.default_rng(8).integers(-128, 128, size=(200, 6, 6, 4)).astype(np.int8)
    want = run_tflm(tfl, x).reshape(200, 5)
    assert np.array_equal(run(g, x).reshape(200, 5), want)
    gen = generate_c(g, "dense", golden_input=x[0])
    assert "td_pad_s8(" in gen.source and any(op.kind == "PADV2" for op in gen.graph.ops)
    assert np.array_equal(host_outputs(gen, x, 5, tmp_path), want)


@pytest.mark.usefixtures("gcc")
def test_cli_export_to_c_accepts_the_model(block, tmp_path):
    from tinydeploy.cli.main import main

    (tmp_path / "m.tflite").write_bytes(block)
    assert main(["export", "--tflite", str(tmp_path / "m.tflite"), "--to", "c",
                 "--out", str(tmp_path / "out")]) == 0
    assert "td_mean_s8(" in (tmp_path / "out" / "c" / "model.c").read_text()


def conv_gap_tflite(keepdims: bool) -> bytes:
    """Conv 1x1 -> GlobalAveragePooling2D on 6x5x4 (MEAN is the graph output)."""
    import tensorflow as tf
    from keras_int8 import full_int8_tflite

    tf.random.set_seed(1)
    rng = np.random.default_rng(1)
    inp = tf.keras.Input((6, 5, 4), batch_size=1)
    out = tf.keras.layers.GlobalAveragePooling2D(keepdims=keepdims)(
        tf.keras.layers.Conv2D(7, 1)(inp))
    return full_int8_tflite(tf.keras.Model(inp, out), lambda: (
        rng.uniform(-1, 1, size=(1, 6, 5, 4)).astype(np.float32) for _ in range(32)))


@pytest.mark.usefixtures("gcc")
@pytest.mark.parametrize("keepdims", [False, True])
def test_mean_with_unchanged_quantization_equals_tflm(keepdims, tmp_path):
    """The converter's MEAN (its own output scale) and the same MEAN with its output given
    its input's quantization: older TFLM sources truncate sum / count there, the installed
    TFLM requantises in both cases, and so does tinydeploy."""
    from tinydeploy.codegen import generate_c

    required_module("tensorflow")
    tfl = conv_gap_tflite(keepdims)
    (mean_fb,) = operators(tfl, "MEAN")
    g = read_tflite(tfl)
    src = g.tensors[f"t{int(mean_fb.InputsAsNumpy()[0])}"]
    for patched in (tfl, set_quantization(tfl, int(mean_fb.OutputsAsNumpy()[0]), src.scale,
                                          src.zero_point)):
        g = read_tflite(patched)
        assert [op.kind for op in g.ops] == ["CONV_2D", "MEAN"]
        x = np.random.default_rng(4).integers(-128, 128, size=(300, 6, 5, 4)).astype(np.int8)
        want = run_tflm(patched, x).reshape(300, 7)
        assert np.array_equal(run(g, x).reshape(300, 7), want)
        assert (want < 0).any() and np.unique(want).size > 20
        gen = generate_c(g, "dense", golden_input=x[0])
        d = tmp_path / ("converter" if patched is tfl else "same-quantization")
        assert np.array_equal(host_outputs(gen, x, 7, d), want)


def test_mean_over_channels_is_an_export_error(tmp_path):
    tf = required_module("tensorflow")
    from keras_int8 import full_int8_tflite

    inp = tf.keras.Input((4, 4, 3), batch_size=1)
    y = tf.keras.layers.Conv2D(5, 1)(inp)
    out = tf.keras.layers.Lambda(lambda t: tf.reduce_mean(t, axis=-1))(y)
    rng = np.random.default_rng(0)
    tfl = full_int8_tflite(tf.keras.Model(inp, out), lambda: (
        rng.uniform(-1, 1, size=(1, 4, 4, 3)).astype(np.float32) for _ in range(8)))
    assert operators(tfl, "MEAN")
    with pytest.raises(ExportError,
                       match=r"MEAN\).*only the mean over H and W.*axes \[-1\] of a 4-D"):
        read_tflite(tfl)


def test_non_constant_paddings_are_an_export_error(block):
    pad = operators(block, "PAD")[0]
    with pytest.raises(ExportError, match=r"PAD\): non-constant paddings are not supported"):
        read_tflite(set_buffer(block, int(pad.InputsAsNumpy()[1]), 0))


def test_concatenation_of_differently_quantized_inputs_is_an_export_error(block):
    concat = operators(block, "CONCATENATION")[0]
    first = int(concat.InputsAsNumpy()[0])
    patched = set_quantization(block, first, 0.5, 3)
    with pytest.raises(ExportError, match=r"CONCATENATION\): input .* is quantized "
                                          r"\(scale 0.5, zero point 3\) unlike the output"):
        read_tflite(patched)
