"""The four MLPerf Tiny reference architectures in Keras, converted by the TFLite converter
to full-integer int8 models: the files TinyML users bring to tinydeploy (issue 16).

Architectures follow the MLPerf Tiny v1.0 training scripts (mlcommons/tiny, benchmark/
training): batch norms are folded by the converter, dropout is dropped at inference.
- resnet8: image classification, 32x32x3 -> 10 (three residual stacks 16/32/64, average
  pooling 8x8, dense + softmax);
- dscnn: keyword spotting, 49x10x1 MFCCs -> 12 (conv 64 10x4 stride 2, four depthwise-
  separable blocks, average pooling 25x5, dense + softmax);
- mobilenet_v1_025: visual wake words, 96x96x3 -> 2 (MobileNetV1 width 0.25, average pooling
  3x3, dense + softmax);
- fc_autoencoder: anomaly detection, 640 -> 640 (dense 128 x4, bottleneck 8, dense 128 x4).

The weights are seeded random, not trained: instruction counts and bit-exactness do not
depend on them, and no dataset of these tasks is on the machine. Calibration draws seeded
normal inputs. `python benchmarks/models/keras_mlperf.py --out DIR` writes DIR/<name>.tflite.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _keras():
    import tensorflow as tf

    return tf.keras


def resnet8():
    k = _keras()
    L = k.layers

    def conv_bn(x, filters, kernel, stride, relu=True):
        x = L.Conv2D(filters, kernel, strides=stride, padding="same")(x)
        x = L.BatchNormalization()(x)
        return L.Activation("relu")(x) if relu else x

    inp = k.Input((32, 32, 3), batch_size=1)
    x = conv_bn(inp, 16, 3, 1)
    for filters, stride in ((16, 1), (32, 2), (64, 2)):
        y = conv_bn(x, filters, 3, stride)
        y = conv_bn(y, filters, 3, 1, relu=False)
        if stride != 1:
            x = L.Conv2D(filters, 1, strides=stride, padding="same")(x)
        x = L.Activation("relu")(L.Add()([x, y]))
    x = L.AveragePooling2D(pool_size=8)(x)
    out = L.Dense(10, activation="softmax")(L.Flatten()(x))
    return k.Model(inp, out, name="resnet8")


def dscnn():
    k = _keras()
    L = k.layers
    inp = k.Input((49, 10, 1), batch_size=1)
    x = L.Conv2D(64, (10, 4), strides=(2, 2), padding="same")(inp)
    x = L.Activation("relu")(L.BatchNormalization()(x))
    for _ in range(4):
        x = L.DepthwiseConv2D(3, padding="same")(x)
        x = L.Activation("relu")(L.BatchNormalization()(x))
        x = L.Conv2D(64, 1, padding="same")(x)
        x = L.Activation("relu")(L.BatchNormalization()(x))
    x = L.AveragePooling2D(pool_size=(25, 5))(x)
    out = L.Dense(12, activation="softmax")(L.Flatten()(x))
    return k.Model(inp, out, name="dscnn")


def mobilenet_v1_025():
    k = _keras()
    L = k.layers

    def bn_relu(x):
        return L.Activation("relu")(L.BatchNormalization()(x))

    inp = k.Input((96, 96, 3), batch_size=1)
    x = bn_relu(L.Conv2D(8, 3, strides=2, padding="same")(inp))
    blocks = [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2), (128, 1), (128, 1),
              (128, 1), (128, 1), (128, 1), (256, 2), (256, 1)]
    for filters, stride in blocks:
        x = bn_relu(L.DepthwiseConv2D(3, strides=stride, padding="same")(x))
        x = bn_relu(L.Conv2D(filters, 1, padding="same")(x))
    x = L.AveragePooling2D(pool_size=3)(x)
    out = L.Dense(2, activation="softmax")(L.Flatten()(x))
    return k.Model(inp, out, name="mobilenet_v1_025")


def fc_autoencoder():
    k = _keras()
    L = k.layers
    inp = k.Input((640,), batch_size=1)
    x = inp
    for units in (128, 128, 128, 128, 8, 128, 128, 128, 128):
        x = L.Activation("relu")(L.BatchNormalization()(L.Dense(units)(x)))
    out = L.Dense(640)(x)
    return k.Model(inp, out, name="fc_autoencoder")


MODELS: dict[str, Callable] = {"resnet8": resnet8, "dscnn": dscnn,
                               "mobilenet_v1_025": mobilenet_v1_025,
                               "fc_autoencoder": fc_autoencoder}


def _randomize_batchnorm(model, rng: np.random.Generator) -> None:
    """Non-trivial folded scales and shifts (fresh BN layers are the identity)."""
    import tensorflow as tf

    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape).astype(np.float32),
                               rng.normal(0, 0.1, beta.shape).astype(np.float32),
                               rng.normal(0, 0.1, mean.shape).astype(np.float32),
                               rng.uniform(0.5, 1.5, var.shape).astype(np.float32)])


def build_int8(name: str, seed: int = 0, calibration: int = 32) -> bytes:
    """The converter's full-integer int8 .tflite (int8 input and output) of one model."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    model = MODELS[name]()
    rng = np.random.default_rng(seed)
    _randomize_batchnorm(model, rng)
    shape = (1, *model.input_shape[1:])
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: (
        [rng.normal(size=shape).astype(np.float32)] for _ in range(calibration))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return conv.convert()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/mlperf-tiny"))
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.models:
        path = args.out / f"{name}.tflite"
        tmp = path.with_suffix(".tflite.tmp")
        tmp.write_bytes(build_int8(name, args.seed))
        tmp.replace(path)
        print(f"{path}: {path.stat().st_size} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
