"""A converter-produced int8 model with depthwise layers (SAME padding, stride 1 and 2, VALID,
16 and 12 channels, ReLU / ReLU6 / no activation) runs on QEMU bit-exact with TFLite Micro:
the Cortex-M DSP depthwise variant (M4, M33) and the portable loop (M3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from keras_int8 import full_int8_tflite

from tinydeploy.cli.main import main


def _dw_tflite(path: Path) -> Path:
    import tensorflow as tf

    tf.random.set_seed(0)
    i = tf.keras.Input((25, 5, 1), batch_size=1)
    x = tf.keras.layers.Conv2D(16, 3, padding="same", activation="relu")(i)
    x = tf.keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = tf.keras.layers.Conv2D(12, 1, activation="relu")(x)
    x = tf.keras.layers.DepthwiseConv2D(3, strides=2, padding="same")(x)
    x = tf.keras.layers.DepthwiseConv2D(3, padding="valid", activation="relu6")(x)
    o = tf.keras.layers.Dense(4)(tf.keras.layers.Flatten()(x))
    rng = np.random.default_rng(0)
    path.write_bytes(full_int8_tflite(tf.keras.Model(i, o), lambda: (
        rng.standard_normal((1, 25, 5, 1)).astype(np.float32) for _ in range(50))))
    return path


@pytest.mark.firmware
@pytest.mark.parametrize("board", ["qemu-m4", "qemu-m3", "qemu-m33"])
def test_depthwise_model_bit_exact_with_tflm_on_qemu(board: str, tmp_path: Path, capsys,
                                                     monkeypatch):
    monkeypatch.setenv("TINYDEPLOY_DATA", str(tmp_path / "no-datasets-here"))
    model = _dw_tflite(tmp_path / "dw.tflite")
    out = tmp_path / "run"
    rc = main(["firmware", "run", "--board", board, "--tflite", str(model), "--inputs",
               "random", "--seed", "5", "--samples", "12", "-o", str(out)])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    report = json.loads((out / "bench.json").read_text())
    exp = report["measured"]["expected_outputs"]
    assert report["status"] == "ok" and exp["bit_exact"] and exp["mismatch_bytes"] == 0, exp
