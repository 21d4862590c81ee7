"""QAT simulates what the int8 converter writes: its baked weights bit for bit, zeros
included, and its activation ranges."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from export_constants import TRAIN_IMAGES

from tinydeploy.export.onnx_export import export_onnx
from tinydeploy.export.tflite_export import onnx_to_int8_tflite
from tinydeploy.ir import read_tflite
from tinydeploy.prune.engine import PruneConfig, prune_model
from tinydeploy.prune.masks import make_permanent, prunable_layers
from tinydeploy.prune.schedules import PruneData, qat_phase
from tinydeploy.train import qat
from tinydeploy.train.loaders import ArrayLoader, to_float
from tinydeploy.train.trainer import TrainConfig


def test_qat_weights_survive_the_converter_bit_for_bit(dense_model, mnist, tmp_path):
    model = copy.deepcopy(dense_model)
    prune_model(model, PruneConfig(sparsity=0.8))
    images = torch.from_numpy(mnist.train_images[:TRAIN_IMAGES])
    labels = torch.from_numpy(mnist.train_labels[:TRAIN_IMAGES].astype(np.int64))
    calibration = mnist.train_images[:64]
    data = PruneData(ArrayLoader(images, labels, 128, shuffle=True), None, None, (1, 28, 28),
                     torch.from_numpy(calibration))
    qat_phase(model, data, TrainConfig(val_size=0), epochs=1, lr=1e-4)
    plain = make_permanent(model).eval()
    onnx_path = export_onnx(plain, (1, 28, 28), tmp_path / "model.onnx")
    graph = read_tflite(onnx_to_int8_tflite(onnx_path, tmp_path / "model.tflite",
                                            calibration).read_bytes())
    # the ranges QAT trains against are the ones the converter calibrates: conv1, conv2 and
    # fc1 end in their fused ReLU, fc2 in the logits
    state = qat.enable(copy.deepcopy(plain), [to_float(calibration)])
    outputs = [graph.tensors[op.output] for op in graph.weighted_ops()]
    assert len(state.activations) == len(outputs) == 4
    for fq, tensor in zip(state.activations.values(), outputs, strict=True):
        scale, zero_point = fq.qparams()
        assert scale == pytest.approx(tensor.scale, rel=1e-5)
        assert zero_point == tensor.zero_point
    for op, layer in zip(graph.weighted_ops(), prunable_layers(plain).values(), strict=True):
        w = layer.weight.detach().numpy()
        if w.ndim == 4:
            w = w.transpose(0, 2, 3, 1)  # OIHW -> OHWI, the TFLite layout
        rows = w.reshape(w.shape[0], -1).astype(np.float64)
        got = op.weights.reshape(op.weights.shape[0], -1).astype(np.float64)
        assert np.array_equal(got == 0, rows == 0)  # every pruned zero stays zero
        live = np.abs(rows).max(axis=1) > 0  # fully pruned channels have no scale to check
        rows, got = rows[live], got[live]
        scale = np.abs(rows).max(axis=1) / 127
        assert np.allclose(op.weight_scales[live], scale, rtol=1e-6)
        expected = np.round(rows / scale[:, None])
        assert np.allclose(rows / scale[:, None], expected, atol=1e-3)  # QAT put them on it
        assert np.array_equal(got, expected)  # the converter rounds to the same integers
