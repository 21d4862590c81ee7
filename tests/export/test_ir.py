"""TFLite -> IR: structure, quantization parameters as TFLM computes them, zeros, errors."""

from __future__ import annotations

import numpy as np
import pytest

from tinydeploy.errors import ExportError
from tinydeploy.ir import read_tflite
from tinydeploy.ir.reference import run
from tinydeploy.ir.tflite_reader import conv_multipliers
from tinydeploy.ir.transforms import fold_transposes
from tinydeploy.quant.fixedpoint import quantize_multiplier


def test_ir_structure_of_tinynet(dense_export):
    g = read_tflite(dense_export[1])
    assert [op.kind for op in g.ops] == [
        "CONV_2D", "MAX_POOL_2D", "CONV_2D", "MAX_POOL_2D", "TRANSPOSE", "RESHAPE",
        "FULLY_CONNECTED", "FULLY_CONNECTED"]
    t = g.input_tensor
    assert t.shape == (1, 28, 28, 1) and t.zero_point == -128
    assert t.scale == pytest.approx(1 / 255)
    conv1, conv2, fc1, fc2 = g.weighted_ops()
    assert conv1.weights.shape == (8, 3, 3, 1) and conv2.weights.shape == (16, 3, 3, 8)
    assert fc1.weights.shape == (64, 784) and fc2.weights.shape == (10, 64)
    assert conv1.weights.dtype == np.int8 and conv1.bias.dtype == np.int32
    assert len(conv2.weight_scales) == 16  # per-channel
    assert conv1.padding == (1, 1, 1, 1) and conv1.stride == (1, 1)
    s_in, s_out = g.tensors[conv2.input].scale, g.tensors[conv2.output].scale
    for c in range(16):
        q, sh = quantize_multiplier(float(np.float32(s_in)) * float(conv2.weight_scales[c])
                                    / float(np.float32(s_out)))
        assert (conv2.multiplier[c], conv2.shift[c]) == (q, sh)


def test_zeros_survive_element_for_element(sparse_tflite, sparse_model):
    from tinydeploy.export.runtimes import zeros_per_layer

    rows = zeros_per_layer(sparse_model, read_tflite(sparse_tflite))
    assert len(rows) == 4
    for r in rows:
        assert r["survived"], r
        assert r["float_zeros"] >= 0.9 * r["size"] - 1


def test_dead_channel_is_kept_bit_exact(sparse_tflite):
    g = read_tflite(sparse_tflite)
    conv2 = g.weighted_ops()[1]
    assert not conv2.weights[5].any()
    # The converter gives a dead channel a tiny scale and a bias near -2**30.
    assert conv2.shift.min() >= -31
    m, s = conv_multipliers(1.0, np.array([1e-12], np.float32), 1.0)
    assert (m[0], s[0]) == (0, 0)  # too small for Q31: TFLM zeroes it


def test_fold_transposes_is_bit_exact(dense_export, mnist, int8_inputs):
    g = read_tflite(dense_export[1])
    folded = fold_transposes(g)
    assert "TRANSPOSE" not in [op.kind for op in folded.ops]
    x = int8_inputs(mnist.test_images[:200])
    assert np.array_equal(run(g, x), run(folded, x))


def test_corrupt_and_truncated_tflite(dense_export, tmp_path):
    data = dense_export[1]
    with pytest.raises(ExportError, match="not a TFLite flatbuffer"):
        read_tflite(b"\x00" * 64)
    with pytest.raises(ExportError):
        read_tflite(data[: len(data) // 2])
    rng = np.random.default_rng(0)
    garbled = bytearray(data)
    garbled[8:4000] = rng.integers(0, 256, 3992, dtype=np.uint8).tobytes()
    with pytest.raises(ExportError):
        read_tflite(bytes(garbled))
    with pytest.raises(ExportError, match="cannot read"):
        read_tflite(tmp_path / "missing.tflite")


def test_unsupported_tflite_op_is_named(dense_export, patch_opcode, tmp_path):
    from tinydeploy.cli.main import main

    patched = patch_opcode(dense_export[1], "MAX_POOL_2D", "TANH")
    with pytest.raises(ExportError, match=r"unsupported TFLite op.*TANH"):
        read_tflite(patched)
    src = tmp_path / "tanh.tflite"
    src.write_bytes(patched)
    out = tmp_path / "c_out"
    assert main(["export", "--tflite", str(src), "--to", "c", "--out", str(out)]) == 2
    assert not out.exists()
