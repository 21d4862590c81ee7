"""A small MobileNetV2-style Keras block through the TFLite converter (full int8), shared by
the PAD / MEAN / CONCATENATION / ReLU6 tests: ZeroPadding2D in front of a stride-2 VALID
depthwise conv (the converter keeps the PAD), ReLU6 fused into CONV_2D, DEPTHWISE_CONV_2D,
ADD and FULLY_CONNECTED, an inverted-residual ADD, two branches concatenated along the
channels and along H (16x8x4), GlobalAveragePooling2D (MEAN, with and without keepdims), a PAD that
feeds a max pool (no conv to fold it into), Dense + softmax. Also the flatbuffer patches
the tests use to reach variants the converter does not emit."""

from __future__ import annotations

import numpy as np
from keras_int8 import full_int8_tflite

INPUT = (16, 16, 3)


def mobilenet_block_tflite() -> bytes:
    import tensorflow as tf

    layers = tf.keras.layers
    tf.random.set_seed(0)
    rng = np.random.default_rng(0)
    inp = tf.keras.Input(INPUT, batch_size=1)
    x = layers.Conv2D(8, 3, padding="same", activation=tf.nn.relu6)(inp)
    x = layers.ZeroPadding2D(1)(x)  # symmetric: not SAME for stride 2, the PAD stays
    x = layers.DepthwiseConv2D(3, strides=2, padding="valid")(x)
    x = layers.ReLU(6.0)(x)  # 8x8x8
    y = layers.Conv2D(16, 1, activation=tf.nn.relu6)(x)  # expand
    y = layers.DepthwiseConv2D(3, padding="same", activation=tf.nn.relu6)(y)
    y = layers.Conv2D(8, 1)(y)  # linear projection
    x = layers.ReLU(6.0)(layers.Add()([x, y]))  # residual, ReLU6 fused into ADD
    a = layers.Conv2D(4, 1, activation=tf.nn.relu6)(x)
    b = layers.ZeroPadding2D(((1, 1), (2, 0)))(x)  # asymmetric: folded by tinydeploy
    b = layers.Conv2D(6, 3, padding="valid")(b)
    c = layers.Concatenate()([a, b])  # channels: 8x8x10
    h = layers.Concatenate(axis=1)([layers.Conv2D(4, 1)(x), layers.Conv2D(4, 1)(x)])  # H
    g1 = layers.GlobalAveragePooling2D()(c)
    g2 = layers.MaxPooling2D(2)(layers.ZeroPadding2D(2)(c))  # PAD -> max pool: stays a PAD
    g2 = layers.Flatten()(layers.GlobalAveragePooling2D(keepdims=True)(g2))
    g3 = layers.GlobalAveragePooling2D()(h)
    z = layers.Concatenate()([g1, g2, g3])
    z = layers.Dense(16, activation=tf.nn.relu6)(z)
    out = layers.Softmax()(layers.Dense(10)(z))
    model = tf.keras.Model(inp, out)
    return full_int8_tflite(model, lambda: (
        rng.uniform(-1, 1, size=(1, *INPUT)).astype(np.float32) for _ in range(64)))


def random_inputs(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, size=(n, *INPUT)).astype(np.int8)


# ---- flatbuffer patches (same-size, in place) -------------------------------------------

def _model(data: bytes):
    import tflite

    return tflite.Model.GetRootAsModel(data, 0)


def operators(data: bytes, kind: str) -> list:
    """The flatbuffer operators of builtin op `kind`, in order."""
    import tflite

    m = _model(data)
    sg = m.Subgraphs(0)
    code = getattr(tflite.BuiltinOperator, kind)
    return [sg.Operators(i) for i in range(sg.OperatorsLength())
            if max(m.OperatorCodes(sg.Operators(i).OpcodeIndex()).BuiltinCode(),
                   m.OperatorCodes(sg.Operators(i).OpcodeIndex()).DeprecatedBuiltinCode())
            == code]


def set_quantization(data: bytes, tensor: int, scale: float, zero_point: int) -> bytes:
    """Overwrite a per-tensor scale and zero point of tensor `tensor`."""
    out = bytearray(data)
    q = _model(data).Subgraphs(0).Tensors(tensor).Quantization()
    tab = q._tab
    scale_at = tab.Vector(tab.Offset(8))  # QuantizationParameters.scale (field 2)
    zp_at = tab.Vector(tab.Offset(10))  # .zero_point (field 3)
    out[scale_at:scale_at + 4] = np.float32(scale).tobytes()
    out[zp_at:zp_at + 8] = np.int64(zero_point).tobytes()
    return bytes(out)


def set_buffer(data: bytes, tensor: int, buffer: int) -> bytes:
    """Point tensor `tensor` at buffer `buffer` (0: the empty buffer, i.e. not a constant)."""
    out = bytearray(data)
    tab = _model(data).Subgraphs(0).Tensors(tensor)._tab
    at = tab.Pos + tab.Offset(8)  # Tensor.buffer (field 2)
    out[at:at + 4] = np.uint32(buffer).tobytes()
    return bytes(out)


WIDE_INPUT = (6, 6, 4)


def wide_pads_tflite() -> bytes:
    """PADs the converter keeps and tinydeploy folds where windows lie wholly in padding:
    ZeroPadding2D(2) -> 1x1 conv, ((3, 0), (0, 3)) -> 3x3 depthwise VALID, 3 -> 3x3 conv
    stride 2 VALID, then Dense."""
    import tensorflow as tf

    layers = tf.keras.layers
    tf.random.set_seed(3)
    rng = np.random.default_rng(3)
    inp = tf.keras.Input(WIDE_INPUT, batch_size=1)
    x = layers.Conv2D(8, 1, activation=tf.nn.relu6)(layers.ZeroPadding2D(2)(inp))
    x = layers.ZeroPadding2D(((3, 0), (0, 3)))(x)
    x = layers.DepthwiseConv2D(3, padding="valid", activation=tf.nn.relu6)(x)
    x = layers.Conv2D(6, 3, strides=2, padding="valid")(layers.ZeroPadding2D(3)(x))
    out = layers.Dense(5)(layers.Flatten()(x))
    return full_int8_tflite(tf.keras.Model(inp, out), lambda: (
        rng.uniform(-1, 1, size=(1, *WIDE_INPUT)).astype(np.float32) for _ in range(32)))


def padv2_tflite() -> bytes:
    """tf.pad with constant_values 0.5 over H, W and the channels: the converter emits
    PADV2 with a constant int8 value (not the zero point, so it is not folded)."""
    import tensorflow as tf

    layers = tf.keras.layers
    tf.random.set_seed(4)
    rng = np.random.default_rng(4)
    inp = tf.keras.Input(WIDE_INPUT, batch_size=1)
    x = layers.Conv2D(8, 1)(inp)
    x = layers.Lambda(lambda t: tf.pad(t, [[0, 0], [1, 2], [0, 1], [1, 0]],
                                       constant_values=0.5))(x)
    out = layers.Dense(5)(layers.Flatten()(layers.Conv2D(4, 3)(x)))
    return full_int8_tflite(tf.keras.Model(inp, out), lambda: (
        rng.uniform(-1, 1, size=(1, *WIDE_INPUT)).astype(np.float32) for _ in range(32)))


def saturating_relu6_tflite() -> bytes:
    """Conv2D(relu6) -> Dense(relu6) -> Dense with weights x30: most pre-activations exceed
    6, so the converter calibrates both ReLU6 outputs to [0, 6] (6.0 lands on 127)."""
    import tensorflow as tf

    layers = tf.keras.layers
    tf.random.set_seed(5)
    rng = np.random.default_rng(5)
    inp = tf.keras.Input((4, 4, 3), batch_size=1)
    conv = layers.Conv2D(8, 3, activation=tf.nn.relu6)
    dense = layers.Dense(6, activation=tf.nn.relu6)
    out = layers.Dense(4)(dense(layers.Flatten()(conv(inp))))
    model = tf.keras.Model(inp, out)
    for layer in (conv, dense):
        w, b = layer.get_weights()
        layer.set_weights([30 * w, b])
    return full_int8_tflite(model, lambda: (
        rng.uniform(-1, 1, size=(1, 4, 4, 3)).astype(np.float32) for _ in range(32)))
