"""Converter-produced models for the QUANTIZE / DEQUANTIZE / LOGISTIC / HARD_SWISH tests:
Keras -> TFLite converter (TFLITE_BUILTINS_INT8) with int8, uint8 or float32 I/O. Each
model is converted once per test session (the converter takes a few seconds)."""

from __future__ import annotations

from functools import cache

import numpy as np
from keras_int8 import full_int8_tflite


@cache
def activation_net(io_type: str) -> bytes:
    """conv -> sigmoid -> conv -> hard_swish -> conv -> sigmoid -> dense on 8x8x3:
    CONV_2D, LOGISTIC, HARD_SWISH, FULLY_CONNECTED (+ QUANTIZE / DEQUANTIZE edges)."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    i = tf.keras.Input((8, 8, 3), batch_size=1)
    x = tf.keras.layers.Conv2D(8, 3, padding="same")(i)
    x = tf.keras.layers.Activation("sigmoid")(x)
    x = tf.keras.layers.Conv2D(8, 3, padding="same")(x)
    x = tf.keras.layers.Activation("hard_swish")(x)
    x = tf.keras.layers.Conv2D(8, 3, padding="same")(x)
    x = tf.keras.layers.Activation("sigmoid")(x)
    o = tf.keras.layers.Dense(10)(tf.keras.layers.Flatten()(x))
    rng = np.random.default_rng(0)
    return full_int8_tflite(tf.keras.Model(i, o), lambda: (
        rng.standard_normal((1, 8, 8, 3)).astype(np.float32) for _ in range(30)), io_type)


@cache
def single_activation(activation: str, lo: float, hi: float, io_type: str = "int8") -> bytes:
    """One Keras activation on a (1, 256) input calibrated on uniform(lo, hi) (the input
    scale and zero point follow): the lone op (LOGISTIC / HARD_SWISH) between the
    converter's edges, so 256 inputs cover it all."""
    import tensorflow as tf

    i = tf.keras.Input((256,), batch_size=1)
    o = tf.keras.layers.Activation(activation)(i)
    rng = np.random.default_rng(1)
    return full_int8_tflite(tf.keras.Model(i, o), lambda: (
        rng.uniform(lo, hi, (1, 256)).astype(np.float32)
        for _ in range(20)), io_type)


def all_bytes(dtype: str) -> np.ndarray:
    """(1, 256): every int8 or uint8 value once."""
    return np.arange(256, dtype=np.uint8).view(np.dtype(dtype)).reshape(1, 256)


@cache
def requantized_output_net() -> bytes:
    """`activation_net("uint8")` whose output tensor is made int8 with another scale and zero
    point (the flatbuffer edited with TensorFlow's flatbuffer_utils): its last op becomes an
    int8 -> int8 QUANTIZE with a multiplier that is not 1, as the converter emits between
    tensors of different quantization; TFLite Micro runs it as its Requantize."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(activation_net("uint8")))
    sg = model.subgraphs[0]
    out = sg.tensors[sg.outputs[0]]
    out.type = 9  # TensorType.INT8
    out.quantization.scale = [float(out.quantization.scale[0]) * 1.7]
    out.quantization.zeroPoint = [int(out.quantization.zeroPoint[0]) - 158]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
