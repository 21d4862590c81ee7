"""The numpy reference executor is bit-exact with TFLite Micro (the oracle for the C kernels)."""

from __future__ import annotations

import numpy as np
import pytest

from tinydeploy.export.runtimes import run_tflm
from tinydeploy.ir import read_tflite
from tinydeploy.ir.reference import run


def _compare(tflite_bytes: bytes, x: np.ndarray) -> None:
    ref = run(read_tflite(tflite_bytes), x)
    tflm = run_tflm(tflite_bytes, x).reshape(ref.shape)
    bad = np.flatnonzero((ref != tflm).any(axis=1))
    assert bad.size == 0, f"{bad.size} images differ, first {bad[:10].tolist()}"


def test_reference_equals_tflm_dense(dense_export, mnist, int8_inputs):
    _compare(dense_export[1], int8_inputs(mnist.test_images[:300]))


def test_reference_equals_tflm_sparse_with_dead_channel(sparse_tflite, mnist, int8_inputs):
    _compare(sparse_tflite, int8_inputs(mnist.test_images[:300]))


@pytest.mark.slow
@pytest.mark.parametrize("which", ["dense", "sparse"])
def test_reference_equals_tflm_full_test_set(which, request, mnist, int8_inputs):
    data = (request.getfixturevalue("dense_export")[1] if which == "dense"
            else request.getfixturevalue("sparse_tflite"))
    assert len(mnist.test_images) == 10000
    _compare(data, int8_inputs(mnist.test_images))
