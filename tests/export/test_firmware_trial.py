"""The firmware-matrix trial: exported .tflite -> C -> PlatformIO -> QEMU M4, via the sweep
runner, with expected outputs taken from TFLite Micro itself."""

from __future__ import annotations

import pytest

from tinydeploy.sweep import Trial, run_sweep

pytestmark = pytest.mark.firmware


def test_qemu_benchmark_trial_checks_tflm_outputs_and_resumes(sparse_cli_export, data_dir,
                                                              tmp_path):
    trial = Trial("tinydeploy.firmware.trials:qemu_benchmark", {
        "tflite": str(sparse_cli_export / "model_int8.tflite"), "format": "auto",
        "board": "qemu-m4", "samples": 3, "expected_from": "tflm",
        "data_dir": str(data_dir), "work_dir": str(tmp_path / "work")})
    summary = run_sweep([trial], tmp_path / "sweep")
    record = summary.records[trial.id]
    assert record["status"] == "ok", record.get("error")
    r = record["result"]
    assert r["images"] == 3 and r["unit"] == "instructions"
    assert r["bit_exact"] and r["mismatch_images"] == 0
    assert r["reference_equals_tflm"] is True and r["expected_from"] == "tflm"
    assert r["per_inference"] == pytest.approx(sum(r["per_layer"].values()), rel=0.05)
    assert r["flash"]["total"] == sum(r["flash"][k] for k in ("code", "weights", "other"))
    assert r["ram"]["peak_model"] == r["ram"]["activations"] + r["ram"]["stack_high_water"]
    assert r["weight_bytes"] < r["dense_weight_bytes"]  # the 90%-sparse model shrinks
    again = run_sweep([trial], tmp_path / "sweep")
    assert (again.skipped, again.succeeded) == (1, 0)
