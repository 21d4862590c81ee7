"""int8 SOFTMAX: the reference executor == TFLite Micro on real exported models, and the
gemmlowp fixed-point pieces behave like the real functions they approximate."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from keras_int8 import full_int8_tflite

from tinydeploy.export.runtimes import run_tflm
from tinydeploy.ir import read_tflite
from tinydeploy.ir.reference import run
from tinydeploy.quant.softmax import (
    exp_on_negative_values,
    one_over_one_plus_x,
    softmax_int8,
    softmax_params,
)

SHARP = 200.0  # logits x200: wide enough that TFLM drops some exps as zero


class SoftmaxNet(torch.nn.Module):
    """conv -> pool -> fc -> softmax; `sharpness` scales the logits so that some differences
    fall below TFLM's diff_min and take the "exp is zero" path."""

    def __init__(self, sharpness: float) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4 * 14 * 14, 10)
        with torch.no_grad():
            self.fc.weight.mul_(sharpness)

    def forward(self, x):
        y = torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
        return torch.softmax(self.fc(y.flatten(1)), dim=1)


@pytest.fixture(scope="session")
def softmax_tflite(tmp_path_factory, mnist):
    """sharpness -> int8 .tflite bytes, exported once per sharpness through onnx2tf."""
    from tinydeploy.export.onnx_export import export_onnx
    from tinydeploy.export.tflite_export import onnx_to_int8_tflite

    cache: dict[float, bytes] = {}

    def get(sharpness: float) -> bytes:
        if sharpness not in cache:
            torch.manual_seed(1)
            d = tmp_path_factory.mktemp("softmax")
            export_onnx(SoftmaxNet(sharpness).eval(), (1, 28, 28), d / "m.onnx")
            cache[sharpness] = onnx_to_int8_tflite(d / "m.onnx", d / "m.tflite",
                                                   mnist.train_images[:64]).read_bytes()
        return cache[sharpness]

    return get


@pytest.mark.parametrize("sharpness", [1.0, SHARP])
def test_softmax_reference_equals_tflm(softmax_tflite, sharpness, mnist, int8_inputs):
    tfl = softmax_tflite(sharpness)
    g = read_tflite(tfl)
    assert g.ops[-1].kind == "SOFTMAX"
    x = int8_inputs(mnist.test_images[:500])
    ref = run(g, x).reshape(500, -1)
    tflm = run_tflm(tfl, x).reshape(ref.shape)
    assert np.array_equal(ref, tflm)
    # the outputs are probabilities in 1/256 steps: each row sums to about 1
    probs = (ref.astype(np.int64) + 128) / 256.0
    assert np.allclose(probs.sum(axis=1), 1.0, atol=10 / 256)


def test_sharp_model_exercises_diff_min(softmax_tflite, mnist, int8_inputs):
    """The equality test above must cover TFLM's "difference below diff_min" branch."""
    g = read_tflite(softmax_tflite(SHARP))
    sm = g.ops[-1]
    logits = run(dataclasses.replace(g, ops=g.ops[:-1], output=sm.input),
                 int8_inputs(mnist.test_images[:500])).astype(np.int64)
    diffs = logits - logits.max(axis=-1, keepdims=True)
    assert (diffs < sm.diff_min).any()


def test_exp_on_negative_values_matches_exp():
    a = np.linspace(-31.9, 0, 2001)
    raw = np.round(a * 2**26).astype(np.int64)
    got = exp_on_negative_values(raw) / 2**31
    assert np.abs(got - np.exp(raw / 2**26)).max() < 2e-7
    assert exp_on_negative_values(np.array([0]))[0] == 2**31 - 1


def test_one_over_one_plus_x():
    x = np.linspace(0, 0.999, 500)
    got = one_over_one_plus_x(np.round(x * 2**31).astype(np.int64)) / 2**31
    assert np.abs(got - 1 / (1 + x)).max() < 1e-8


def test_softmax_int8_close_to_float():
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, size=(200, 10)).astype(np.int8)
    scale = 0.05
    p = softmax_params(1.0, scale)
    got = (softmax_int8(x, p).astype(np.int64) + 128) / 256
    z = x.astype(np.float64) * scale
    want = np.exp(z - z.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    assert np.abs(got - want).max() <= 1 / 256 + 1e-9


def test_sum_of_exps_is_read_as_uint32():
    """TFLM's GetReciprocal counts the leading zeros of the sum cast to uint32: a sum that
    wrapped negative (4096+ entries near the maximum) has none, 0 has 32."""
    from tinydeploy.quant.softmax import _count_leading_zeros

    got = _count_leading_zeros(np.array([0, 1, 2**19, 2**31 - 1, -1, -(2**31), -5]))
    assert got.tolist() == [32, 31, 12, 1, 0, 0, 0]


def test_softmax_params_radius():
    p = softmax_params(1.0, 0.25)
    # real multiplier 0.25 * 2**26 = 2**24 -> q = 2**30, shift 25; radius 31 * 2**26 / 2**25
    assert (p.input_multiplier, p.input_left_shift) == (2**30, 25)
    assert p.diff_min == -math.floor(31 * 2**26 / 2**25)


# ---- generated C (td_softmax_s8) == TFLite Micro -------------------------------------

@pytest.fixture
def gcc() -> None:
    import shutil

    from tools_required import unavailable

    if shutil.which("gcc") is None:
        unavailable("host gcc is not installed")


@pytest.mark.usefixtures("gcc")
@pytest.mark.parametrize("sharpness", [1.0, SHARP])
def test_generated_c_equals_tflm(softmax_tflite, sharpness, mnist, int8_inputs, tmp_path):
    """conv -> pool -> fc -> SOFTMAX (onnx2tf), generated as C and built for the host."""
    from tinydeploy.codegen import generate_c
    from tinydeploy.codegen.host import build_host_runner, run_host

    tfl = softmax_tflite(sharpness)
    x = int8_inputs(mnist.test_images[:500])
    gen = generate_c(read_tflite(tfl), "auto", golden_input=x[0])
    assert gen.layers[-1].kind == "softmax" and "td_softmax_s8(" in gen.source
    (tmp_path / "c").mkdir()
    for name, text in gen.files.items():
        (tmp_path / "c" / name).write_text(text)
    got = run_host(build_host_runner(tmp_path / "c", tmp_path / "b"), x, 10)
    assert np.array_equal(got, run_tflm(tfl, x).reshape(500, 10))


def keras_dense_softmax(tf, sharpness: float) -> bytes:
    """Dense(24, relu) -> Dense(10) -> softmax on 20 features, full int8 by the TFLite
    converter; `sharpness` scales the last layer's weights (wider logits)."""

    tf.random.set_seed(0)
    rng = np.random.default_rng(0)
    inp = tf.keras.Input((20,), batch_size=1)
    hidden = tf.keras.layers.Dense(24, activation="relu")(inp)
    last = tf.keras.layers.Dense(10)
    out = tf.keras.layers.Softmax()(last(hidden))
    model = tf.keras.Model(inp, out)
    w, b = last.get_weights()
    last.set_weights([w * sharpness, b])

    return full_int8_tflite(model, lambda: (
        rng.normal(size=(1, 20)).astype(np.float32) for _ in range(32)))


@pytest.mark.usefixtures("gcc")
@pytest.mark.parametrize("sharpness", [1.0, 20.0])
def test_converter_model_with_softmax_exports_to_c_equal_to_tflm(sharpness, tmp_path):
    """A Keras Dense -> softmax model from the TFLite converter (not onnx2tf) goes through
    `tinydeploy export --tflite M --to c`; the host build of the C gives TFLM's outputs."""
    from tools_required import required_module

    from tinydeploy.cli.main import main
    from tinydeploy.codegen.host import build_host_runner, run_host

    tf = required_module("tensorflow")
    tfl = keras_dense_softmax(tf, sharpness)
    g = read_tflite(tfl)
    assert [op.kind for op in g.ops] == ["FULLY_CONNECTED", "FULLY_CONNECTED", "SOFTMAX"]
    (tmp_path / "m.tflite").write_bytes(tfl)
    assert main(["export", "--tflite", str(tmp_path / "m.tflite"), "--to", "c",
                 "--out", str(tmp_path / "out")]) == 0
    assert "td_softmax_s8(" in (tmp_path / "out" / "c" / "model.c").read_text()
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, size=(300, 20)).astype(np.int8)
    got = run_host(build_host_runner(tmp_path / "out" / "c", tmp_path / "b"), x, 10)
    want = run_tflm(tfl, x).reshape(300, 10)
    assert np.array_equal(got, want)
    assert np.unique(want).size > 20  # spread probabilities, not saturated rows
    if sharpness > 1:  # the "exp is zero" branch ran
        sm = g.ops[-1]
        logits = run(dataclasses.replace(g, ops=g.ops[:-1], output=sm.input), x)
        logits = logits.reshape(300, 10).astype(np.int32)
        assert (logits - logits.max(1, keepdims=True) < sm.diff_min).any()
