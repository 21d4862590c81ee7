"""Converter-produced models with float32 and uint8 input/output (QUANTIZE / DEQUANTIZE at
the edges, LOGISTIC and HARD_SWISH inside) run on QEMU bit-exact with TFLite Micro: float32
outputs compared bit for bit, on the Cortex-M4 (DSP) and once on the Cortex-M55 (Helium)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from edge_models import activation_net, requantized_output_net, single_activation

from tinydeploy.cli.main import main


def run_firmware(tmp_path: Path, tfl: bytes, board: str, inputs: str, samples: int,
                 capsys) -> dict:
    model = tmp_path / "m.tflite"
    model.write_bytes(tfl)
    out = tmp_path / "run"
    rc = main(["firmware", "run", "--board", board, "--tflite", str(model), "--inputs",
               inputs, "--seed", "4", "--samples", str(samples), "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "numpy reference: identical" in err  # the host reference agreed with TFLM too
    report = json.loads((out / "bench.json").read_text())
    exp = report["measured"]["expected_outputs"]
    assert report["status"] == "ok" and exp["bit_exact"] and exp["mismatch_bytes"] == 0, exp
    return report


@pytest.mark.firmware
@pytest.mark.parametrize(("io_type", "board"), [("float32", "qemu-m4"), ("uint8", "qemu-m4"),
                                                ("float32", "qemu-m55")])
def test_edge_io_model_bit_exact_with_tflm_on_qemu(io_type, board, tmp_path, capsys,
                                                   monkeypatch):
    monkeypatch.setenv("TINYDEPLOY_DATA", str(tmp_path / "no-datasets-here"))
    report = run_firmware(tmp_path, activation_net(io_type), board, "random", 5, capsys)
    vectors = np.load(tmp_path / "run" / "model" / "test_vectors.npz")
    assert vectors["inputs"].dtype == vectors["expected"].dtype == np.dtype(io_type)
    header = (tmp_path / "run" / "model" / "model.h").read_text()
    assert f'#define TDM_INPUT_DTYPE "{io_type}"' in header
    names = [layer["name"] for layer in report["measured"]["per_layer"]]
    assert names[0] == "quantize1" and "logistic1" in names and "hardswish1" in names
    assert names[-1] == ("dequantize1" if io_type == "float32" else "quantize2")


@pytest.mark.firmware
def test_float_ties_and_far_values_on_qemu_m4(tmp_path, capsys, monkeypatch):
    """--inputs FILE.npy of floats for a float model: halfway points of the QUANTIZE and
    values far outside its range, as they are (not quantized on the host)."""
    monkeypatch.setenv("TINYDEPLOY_DATA", str(tmp_path / "no-datasets-here"))
    from tinydeploy.ir import read_tflite

    tfl = single_activation("sigmoid", -6.0, 6.0, "float32")
    quant = read_tflite(tfl).ops[0]
    k = np.arange(-200, 312, dtype=np.float64) + 0.5
    x = (k * quant.scale).astype(np.float32)
    x[::37] = np.float32(3e8 * quant.scale) * np.sign(k[::37]).astype(np.float32)
    np.save(tmp_path / "x.npy", x.reshape(2, 256))
    run_firmware(tmp_path, tfl, "qemu-m4", str(tmp_path / "x.npy"), 2, capsys)
    vectors = np.load(tmp_path / "run" / "model" / "test_vectors.npz")
    np.testing.assert_array_equal(vectors["inputs"].reshape(-1), x)


@pytest.mark.firmware
def test_requantizing_quantize_on_qemu_m4(tmp_path, capsys, monkeypatch):
    """uint8 input, int8 -> int8 QUANTIZE (requantize) at the output."""
    monkeypatch.setenv("TINYDEPLOY_DATA", str(tmp_path / "no-datasets-here"))
    report = run_firmware(tmp_path, requantized_output_net(), "qemu-m4", "random", 4, capsys)
    assert report["measured"]["per_layer"][-1]["name"] == "quantize2"
