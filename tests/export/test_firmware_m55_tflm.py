"""The Helium (MVE) kernels end to end on Cortex-M55 (QEMU mps3-an547): the exported 90%-sparse
TinyNet (with its dead channel) in each weight format, every output byte checked on the
device against TFLite Micro's (expected_from="tflm"); dense, CSR and N:M reach the MVE conv,
sparse conv (taps), FC, CSR FC and N:M FC paths."""

from __future__ import annotations

import pytest

from tinydeploy.firmware.trials import qemu_benchmark

pytestmark = pytest.mark.firmware


@pytest.mark.parametrize("fmt", ["dense", "csr", "nm"])
def test_m55_outputs_equal_tflm(sparse_cli_export, data_dir, tmp_path, fmt):
    r = qemu_benchmark({
        "tflite": str(sparse_cli_export / "model_int8.tflite"), "format": fmt,
        "board": "qemu-m55", "samples": 40, "expected_from": "tflm",
        "data_dir": str(data_dir), "work_dir": str(tmp_path / "work")})
    assert r["images"] == 40 and r["unit"] == "instructions"
    assert r["bit_exact"] and r["mismatch_images"] == 0
    assert r["expected_from"] == "tflm" and r["reference_equals_tflm"] is True
    chosen = set(r["chosen_formats"].values())
    assert all(v.startswith("nm") for v in chosen) if fmt == "nm" else chosen <= {"dense", fmt}
