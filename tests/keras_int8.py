"""`full_int8_tflite(model, samples)`: a Keras model through the TFLite converter as a
full-integer int8 model (int8 input and output), the way TinyML users produce theirs.
`io_type="float32"` / `"uint8"` keeps int8 ops inside but float32 / uint8 input and output:
the converter adds QUANTIZE at the input and DEQUANTIZE (float32) or QUANTIZE (uint8) at
the output.
(tests/ is on sys.path through its conftest.py, so any test module can import this.)"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable

import numpy as np


def full_int8_tflite(model, representative: Callable[[], Iterable[np.ndarray]],
                     io_type: str = "int8") -> bytes:
    """The .tflite bytes; `representative()` yields float32 input batches for calibration;
    `io_type`: the model's input and output type (int8, uint8 or float32)."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([x] for x in representative())
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    io = {"int8": tf.int8, "uint8": tf.uint8, "float32": tf.float32}[io_type]
    conv.inference_input_type = io
    conv.inference_output_type = io
    with warnings.catch_warnings():  # the converter warns about calibration statistics
        warnings.simplefilter("ignore")
        return conv.convert()
