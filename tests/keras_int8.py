"""`full_int8_tflite(model, samples)`: a Keras model through the TFLite converter as a
full-integer int8 model (int8 input and output), the way TinyML users produce theirs.
(tests/ is on sys.path through its conftest.py, so any test module can import this.)"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable

import numpy as np


def full_int8_tflite(model, representative: Callable[[], Iterable[np.ndarray]]) -> bytes:
    """The .tflite bytes; `representative()` yields float32 input batches for calibration."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([x] for x in representative())
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    with warnings.catch_warnings():  # the converter warns about calibration statistics
        warnings.simplefilter("ignore")
        return conv.convert()
