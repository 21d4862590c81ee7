"""The converter-produced MobileNetV2-style block (tests/mobilenet_block.py: PAD folded into
convs and a standalone PAD, MEAN, CONCATENATION along channels / H / features, ReLU6 fused in
conv, depthwise, ADD and FC) runs on QEMU bit-exact with TFLite Micro through
`tinydeploy firmware run --tflite`: Cortex-M4 (DSP paths), M3 (portable C) and M55 (Helium)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mobilenet_block import mobilenet_block_tflite, padv2_tflite, wide_pads_tflite
from tools_required import required_module

from tinydeploy.cli.main import main


@pytest.mark.firmware
@pytest.mark.parametrize("board", ["qemu-m4", "qemu-m3", "qemu-m55"])
def test_mobilenet_block_bit_exact_with_tflm_on_qemu(board: str, tmp_path: Path, capsys,
                                                     monkeypatch):
    required_module("tensorflow")
    monkeypatch.setenv("TINYDEPLOY_DATA", str(tmp_path / "no-datasets-here"))
    model = tmp_path / "block.tflite"
    model.write_bytes(mobilenet_block_tflite())
    out = tmp_path / "run"
    rc = main(["firmware", "run", "--board", board, "--tflite", str(model), "--inputs",
               "random", "--seed", "7", "--samples", "8", "-o", str(out)])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    report = json.loads((out / "bench.json").read_text())
    exp = report["measured"]["expected_outputs"]
    assert report["status"] == "ok" and exp["bit_exact"] and exp["mismatch_bytes"] == 0, exp
    layers = {row["name"]: row["instructions_mean"] for row in report["measured"]["per_layer"]}
    for name in ("pad3", "mean1", "concat2"):  # the new kernels ran as layers of their own
        assert layers[name] > 0, layers
    assert "pad1" not in layers and "pad2" not in layers  # folded into dwconv1 and conv7


@pytest.mark.firmware
@pytest.mark.parametrize(("model_of", "fmt"), [(wide_pads_tflite, "dense"),
                                               (wide_pads_tflite, "csr"),
                                               (padv2_tflite, "dense")])
def test_pad_variants_bit_exact_on_qemu_m4(model_of, fmt: str, tmp_path: Path, capsys,
                                           monkeypatch):
    """PADs of 2-3 cells folded into 1x1 / 3x3 convs and a 3x3 depthwise (windows wholly in
    padding) on the M4 DSP paths, dense and sparse conv kernels; a PADV2 with a constant
    value and channel padding as td_pad_s8."""
    required_module("tensorflow")
    monkeypatch.setenv("TINYDEPLOY_DATA", str(tmp_path / "no-datasets-here"))
    model = tmp_path / "pads.tflite"
    model.write_bytes(model_of())
    out = tmp_path / "run"
    rc = main(["firmware", "run", "--board", "qemu-m4", "--tflite", str(model), "--format",
               fmt, "--inputs", "random", "--seed", "2", "--samples", "8", "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    exp = json.loads((out / "bench.json").read_text())["measured"]["expected_outputs"]
    assert exp["bit_exact"] and exp["mismatch_bytes"] == 0, exp
