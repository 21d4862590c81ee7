"""The four MLPerf Tiny reference models (seeded, untrained, random batch norms) through
PyTorch -> ONNX -> onnx2tf full-int8 .tflite: no BatchNormalization or Pad left in ONNX, the
same op mix as the Keras reference through the TFLite converter (layout ops aside; the PyTorch
classifiers end in logits, the Keras ones in SOFTMAX), int8 close to float, and the two small
ones bit-exact with TFLite Micro on QEMU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from mlperf_models import SHAPES, keras_mlperf, seeded_model

from tinydeploy.cli.main import main
from tinydeploy.errors import ExportError
from tinydeploy.export.onnx_export import export_onnx, load_onnx, run_onnx
from tinydeploy.export.runtimes import run_tflm
from tinydeploy.export.tflite_export import onnx_to_int8_tflite
from tinydeploy.ir import read_tflite

pytestmark = pytest.mark.slow

LAYOUT_OPS = {"RESHAPE", "TRANSPOSE"}
CALIBRATION = 8


def _calibration(name: str) -> np.ndarray:
    shape, _ = SHAPES[name]
    return np.random.default_rng(0).normal(size=(CALIBRATION, *shape)).astype(np.float32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """name -> (.onnx, int8 .tflite); onnx2tf runs once per model."""
    out = {}
    for name in SHAPES:
        d = tmp_path_factory.mktemp(name)
        onnx_path = export_onnx(seeded_model(name), SHAPES[name][0], d / "model.onnx")
        tflite = onnx_to_int8_tflite(onnx_path, d / "model_int8.tflite",
                                     calib_samples=_calibration(name))
        out[name] = (onnx_path, tflite)
    return out


def _kinds(ops) -> list[str]:
    return [op.kind for op in ops if op.kind not in LAYOUT_OPS]


@pytest.mark.parametrize("name", list(SHAPES))
def test_onnx_has_folded_batchnorm_and_merged_pads(exported, name: str):
    onnx_path, _ = exported[name]
    ops = {n.op_type for n in load_onnx(onnx_path).graph.node}
    assert not ops & {"BatchNormalization", "Pad", "ConstantOfShape", "Slice"}
    x = _calibration(name)[:3]
    with torch.no_grad():
        ref = seeded_model(name)(torch.from_numpy(x)).numpy()  # unfolded, eval mode
    np.testing.assert_allclose(run_onnx(onnx_path, x), ref, rtol=1e-4, atol=1e-4)


def test_op_mix_equals_the_keras_converter_files(exported):
    k = keras_mlperf()
    for name in SHAPES:
        keras_ops = _kinds(read_tflite(k.build_int8(name, calibration=2)).ops)
        if keras_ops[-1] == "SOFTMAX":
            keras_ops = keras_ops[:-1]
        assert _kinds(read_tflite(exported[name][1]).ops) == keras_ops, name


@pytest.mark.parametrize("name", list(SHAPES))
def test_int8_output_follows_the_float_model(exported, name: str):
    _, tflite = exported[name]
    graph = read_tflite(tflite)
    t_in, t_out = graph.input_tensor, graph.output_tensor
    x = _calibration(name)[:4]
    x_nhwc = np.moveaxis(x, 1, -1) if x.ndim == 4 else x
    q = np.clip(np.round(x_nhwc / t_in.scale) + t_in.zero_point, -128, 127).astype(np.int8)
    got = (run_tflm(tflite.read_bytes(), q).astype(np.float64) - t_out.zero_point) * t_out.scale
    with torch.no_grad():
        ref = seeded_model(name)(torch.from_numpy(x)).numpy()
    corr = np.corrcoef(got.reshape(-1), ref.reshape(-1))[0, 1]
    assert corr > 0.98, f"{name}: int8 vs float correlation {corr:.3f}"


def test_calibration_arguments_are_checked(exported, tmp_path: Path):
    onnx_path, _ = exported["fc_autoencoder"]
    with pytest.raises(ExportError, match="either uint8 images or float samples"):
        onnx_to_int8_tflite(onnx_path, tmp_path / "x.tflite")
    with pytest.raises(ExportError, match="calibration images must be uint8"):
        onnx_to_int8_tflite(onnx_path, tmp_path / "x.tflite",
                            np.zeros((2, 640), dtype=np.uint8))
    with pytest.raises(ExportError, match="calibration samples are"):
        onnx_to_int8_tflite(onnx_path, tmp_path / "x.tflite",
                            calib_samples=np.zeros((2, 320), np.float32))


@pytest.mark.firmware
@pytest.mark.parametrize("name", ["dscnn", "fc_autoencoder"])
def test_runs_bit_exact_on_qemu(exported, name: str, tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("TINYDEPLOY_DATA", str(tmp_path / "no-datasets-here"))
    out = tmp_path / "run"
    rc = main(["firmware", "run", "--board", "qemu-m4", "--tflite", str(exported[name][1]),
               "--inputs", "random", "--samples", "2", "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    report = json.loads((out / "bench.json").read_text())
    assert report["status"] == "ok"
    assert report["measured"]["expected_outputs"]["bit_exact"]
    assert report["measured"]["images"] == 2
