"""QUANTIZE / DEQUANTIZE (float32 and uint8 model edges, 8-bit requantize), LOGISTIC and
HARD_SWISH: the numpy reference executor == TFLite Micro bit for bit on converter-produced
models (every input value of the 8-bit ops, float ties and out-of-range floats), the
generated C on the host == the reference, and what stays unsupported is a clear error."""

from __future__ import annotations

import numpy as np
import pytest
from edge_models import activation_net, all_bytes, requantized_output_net, single_activation

from tinydeploy.codegen import generate_c
from tinydeploy.codegen.host import build_host_runner, run_host
from tinydeploy.errors import ExportError
from tinydeploy.export.runtimes import run_tflm
from tinydeploy.ir import read_tflite
from tinydeploy.ir.reference import run
from tinydeploy.quant.hard_swish import hard_swish_params
from tinydeploy.quant.logistic import logistic_params

EDGES = {"int8": ([], []), "uint8": (["QUANTIZE"], ["QUANTIZE"]),
         "float32": (["QUANTIZE"], ["DEQUANTIZE"])}
# calibration ranges: symmetric and lopsided (zero point far from 0), narrow to wide
RANGES = [(-1.0, 1.0), (-4.0, 4.0), (-10.0, 2.0), (-0.5, 12.0), (-60.0, 60.0)]


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal shapes and bytes: float32 outputs must be the same numbers, not merely close."""
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(
        np.ascontiguousarray(a).view(np.uint8), np.ascontiguousarray(b).view(np.uint8))


def random_inputs(graph, n: int, seed: int) -> np.ndarray:
    """int8 / uint8: uniform over every value; float32: normal, a tenth of them far outside
    the input range (the QUANTIZE clamp)."""
    t = graph.input_tensor
    rng = np.random.default_rng(seed)
    shape = (n, *t.shape[1:])
    if t.dtype != "float32":
        lo, hi = (-128, 127) if t.dtype == "int8" else (0, 255)
        return rng.integers(lo, hi + 1, size=shape, dtype=np.dtype(t.dtype))
    x = rng.standard_normal(shape) * 2
    far = rng.random(shape) < 0.1
    return np.where(far, x * 100, x).astype(np.float32)


def check_reference_equals_tflm(tfl: bytes, x: np.ndarray) -> np.ndarray:
    g = read_tflite(tfl)
    ref = run(g, x)
    tflm = run_tflm(tfl, x).reshape(ref.shape)
    assert same_bits(ref, tflm), (ref.ravel()[:16], tflm.ravel()[:16])
    return ref


@pytest.mark.parametrize("io_type", ["int8", "uint8", "float32"])
def test_activation_net_reference_equals_tflm(io_type):
    tfl = activation_net(io_type)
    g = read_tflite(tfl)
    first, last = EDGES[io_type]
    kinds = [op.kind for op in g.ops]
    assert kinds == [*first, "CONV_2D", "LOGISTIC", "CONV_2D", "HARD_SWISH", "CONV_2D",
                     "LOGISTIC", "RESHAPE", "FULLY_CONNECTED", *last]
    assert g.input_tensor.dtype == g.output_tensor.dtype == io_type
    out = check_reference_equals_tflm(tfl, random_inputs(g, 300, seed=3))
    assert out.dtype == np.dtype(io_type) and len(np.unique(out)) > 50


@pytest.mark.parametrize(("lo", "hi"), RANGES)
@pytest.mark.parametrize("activation", ["sigmoid", "hard_swish"])
def test_every_int8_input_of_logistic_and_hard_swish(activation, lo, hi):
    tfl = single_activation(activation, lo, hi)
    g = read_tflite(tfl)
    (op,) = g.ops
    assert op.kind == {"sigmoid": "LOGISTIC", "hard_swish": "HARD_SWISH"}[activation]
    out = check_reference_equals_tflm(tfl, all_bytes("int8"))
    # and close to the real function (one output step, plus the input's rounding)
    tin, tout = g.input_tensor, g.output_tensor
    real = (all_bytes("int8").astype(np.float64) - tin.zero_point) * tin.scale
    want = 1 / (1 + np.exp(-real)) if activation == "sigmoid" else \
        real * np.clip(real + 3, 0, 6) / 6
    got = (out.astype(np.float64) - tout.zero_point) * tout.scale
    inside = (want >= (-128 - tout.zero_point) * tout.scale) & \
        (want <= (127 - tout.zero_point) * tout.scale)
    assert np.abs(got - want)[inside].max() <= 1.5 * tout.scale + tin.scale


@pytest.mark.parametrize("activation", ["sigmoid", "hard_swish"])
def test_every_uint8_input_through_the_uint8_edges(activation):
    """QUANTIZE uint8 -> int8 on all 256 values, the op, QUANTIZE int8 -> uint8."""
    tfl = single_activation(activation, -10.0, 2.0, "uint8")
    kinds = [op.kind for op in read_tflite(tfl).ops]
    assert kinds[0] == kinds[-1] == "QUANTIZE"
    check_reference_equals_tflm(tfl, all_bytes("uint8"))


def test_float_quantize_ties_extremes_and_dequantize():
    """float32 QUANTIZE: exact halfway points k + 1/2 (float32 division, std::round away
    from zero), far-out values of both signs, zeros; DEQUANTIZE of the LOGISTIC outputs."""
    tfl = single_activation("sigmoid", -6.0, 6.0, "float32")
    g = read_tflite(tfl)
    quant = g.ops[0]
    k = np.arange(-140, 140, dtype=np.float64) + 0.5
    ties = (k * quant.scale).astype(np.float32)
    # far outside the range but with x / scale inside int32 (beyond it TFLM's float -> int
    # cast is undefined behaviour; tinydeploy saturates, see td_quantize_f32_s8)
    big = 2.0e9 * quant.scale
    extremes = np.array([0.0, -0.0, big, -big, 1e3, -1e3, 1e-30, -1e-30], np.float32)
    rng = np.random.default_rng(0)
    values = np.concatenate([ties, extremes, rng.uniform(-8, 8, 3 * 256 - 288)
                             .astype(np.float32)]).astype(np.float32)
    out = check_reference_equals_tflm(tfl, values.reshape(3, 256))
    assert len(np.unique(out)) > 100  # many of the 256 dequantized values occur


def test_requantize_int8_to_int8_equals_tflm():
    tfl = requantized_output_net()
    g = read_tflite(tfl)
    last = g.ops[-1]
    assert (last.kind, last.in_dtype, last.out_dtype) == ("QUANTIZE", "int8", "int8")
    assert last.multiplier != 1 << 30  # a real rescale, not the same-scale shortcut
    out = check_reference_equals_tflm(tfl, random_inputs(g, 300, seed=5))
    assert out.dtype == np.int8 and len(np.unique(out)) > 50


def test_requantize_int8_to_int8_parameters():
    """int8 -> int8 QUANTIZE (TFLM's Requantize, multiplier and shift from s_in / s_out):
    the reference on every input, against the float formula within one step."""
    from tinydeploy.ir.ops.quantize import QuantizeDef
    from tinydeploy.quant.affine import requantize, requantize_params

    x = all_bytes("int8")
    for s_in, zp_in, s_out, zp_out in [(0.02, -3, 0.05, 10), (0.1, 0, 0.013, -128),
                                       (0.007, 127, 0.007, -128)]:
        mult, shift = requantize_params(s_in, s_out)
        got = requantize(x, zp_in, mult, shift, zp_out)
        want = np.clip(np.round((x.astype(np.float64) - zp_in) * (float(np.float32(s_in)) /
                                float(np.float32(s_out)))) + zp_out, -128, 127)
        assert np.abs(got - want).max() <= 1
    assert QuantizeDef.kind == "QUANTIZE"


@pytest.mark.parametrize("io_type", ["int8", "uint8", "float32"])
def test_generated_c_on_the_host_equals_the_reference(io_type, tmp_path):
    g = read_tflite(activation_net(io_type))
    x = random_inputs(g, 40, seed=9)
    gen = generate_c(g, "dense", golden_input=x[0])
    header = gen.files["model.h"]
    c_type = {"int8": "int8_t", "uint8": "uint8_t", "float32": "float"}[io_type]
    assert f"typedef {c_type} tdm_input_t;" in header
    assert f"#define TDM_OUTPUT_IS_{io_type.upper()} 1" in header
    for name, text in gen.files.items():
        (tmp_path / name).write_text(text)
    exe = build_host_runner(tmp_path, tmp_path / "build")
    got = run_host(exe, x, g.output_tensor.size, io_type)
    assert same_bits(got, run(g, x).reshape(got.shape))


def test_float_ops_inside_the_model_are_a_clear_error():
    """A float model (no quantization) names the op and the dtype."""
    import tensorflow as tf

    i = tf.keras.Input((16,), batch_size=1)
    m = tf.keras.Model(i, tf.keras.layers.Dense(4)(i))
    tfl = tf.lite.TFLiteConverter.from_keras_model(m).convert()
    with pytest.raises(ExportError, match=r"fc1 \(FULLY_CONNECTED\) on the float32 tensor"):
        read_tflite(tfl)


@pytest.mark.parametrize(("tensor_type", "message"), [
    (3, r"quantize1: QUANTIZE float32 -> uint8 is not supported; supported: float32 -> int8"),
    (7, r"has type INT16; supported: int8"),
])
def test_unsupported_edge_types_are_clear_errors(tensor_type, message):
    """The float model's first QUANTIZE retyped (uint8, int16 output) in the flatbuffer."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(activation_net("float32")))
    sg = model.subgraphs[0]
    sg.tensors[sg.operators[0].outputs[0]].type = tensor_type
    with pytest.raises(ExportError, match=message):
        read_tflite(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))


def test_unsupported_parameters_are_clear_errors():
    with pytest.raises(ExportError, match="HARD_SWISH: output scale"):
        hard_swish_params(1.0, 0, 1e-6, 0)  # output multiplier exponent > 0
    with pytest.raises(ExportError, match="LOGISTIC: input scale"):
        logistic_params(2.0**40, 0)
