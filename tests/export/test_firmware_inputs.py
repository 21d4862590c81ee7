"""`tinydeploy firmware run --tflite M --inputs random|FILE.npy`: any model runs without a
dataset, its expected outputs taken from TFLite Micro itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tinydeploy.cli.main import main
from tinydeploy.errors import FirmwareError
from tinydeploy.firmware.fromtflite import model_inputs
from tinydeploy.ir import read_tflite


@pytest.fixture
def tflite_file(dense_export, tmp_path: Path) -> Path:
    path = tmp_path / "model.tflite"
    path.write_bytes(dense_export[1])
    return path


@pytest.mark.firmware
def test_random_inputs_run_on_qemu_against_tflm(tflite_file: Path, tmp_path: Path, capsys,
                                                 monkeypatch):
    monkeypatch.setenv("TINYDEPLOY_DATA", str(tmp_path / "no-datasets-here"))
    out = tmp_path / "run"
    rc = main(["firmware", "run", "--board", "qemu-m4", "--tflite", str(tflite_file),
               "--inputs", "random", "--seed", "3", "--samples", "6", "--format", "csr",
               "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    vectors = np.load(out / "model" / "test_vectors.npz")
    assert (vectors["labels"] == -1).all() and vectors["inputs"].shape == (6, 784)
    report = json.loads((out / "bench.json").read_text())
    m = report["measured"]
    assert report["status"] == "ok" and m["expected_outputs"]["bit_exact"]
    rng = np.random.default_rng(3)  # the seeded inputs are reproducible
    want = rng.integers(-128, 128, size=(6, 28, 28, 1), dtype=np.int8).reshape(6, -1)
    np.testing.assert_array_equal(vectors["inputs"], want)


def test_npy_inputs_int8_and_float(tflite_file: Path, tmp_path: Path):
    graph = read_tflite(tflite_file)
    t = graph.input_tensor
    q = np.random.default_rng(0).integers(-128, 128, size=(4, 784), dtype=np.int8)
    np.save(tmp_path / "q.npy", q)
    x, labels = model_inputs(graph, str(tmp_path / "q.npy"), 3, "mnist", None)
    assert x.shape == (3, 28, 28, 1) and (labels == -1).all()
    np.testing.assert_array_equal(x.reshape(3, -1), q[:3])
    real = (q.astype(np.float64) - t.zero_point) * t.scale  # dequantized: quantizes back
    np.save(tmp_path / "f.npy", real.astype(np.float32))
    xf, _ = model_inputs(graph, str(tmp_path / "f.npy"), 4, "mnist", None)
    np.testing.assert_array_equal(xf.reshape(4, -1), q)


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: d / "x.txt", "dataset, random or a .npy"),
    (lambda d: d / "missing.npy", "does not exist"),
    (lambda d: (np.save(d / "odd.npy", np.zeros(783, np.int8)), d / "odd.npy")[1],
     "not a whole number"),
    (lambda d: (np.save(d / "i32.npy", np.zeros(784, np.int32)), d / "i32.npy")[1],
     "give int8"),
])
def test_bad_inputs_are_clear_errors(tflite_file: Path, tmp_path: Path, make, message):
    graph = read_tflite(tflite_file)
    with pytest.raises(FirmwareError, match=message):
        model_inputs(graph, str(make(tmp_path)), 2, "mnist", None)


def test_inputs_with_a_model_dir_is_an_error(tmp_path: Path, capsys):
    rc = main(["firmware", "build", "--board", "qemu-m4", "--model-dir", str(tmp_path),
               "--inputs", "random"])
    assert rc != 0 and "--inputs applies to --tflite" in capsys.readouterr().err
