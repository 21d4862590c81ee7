"""`tinydeploy export` end to end: files, reports, atomic output directory."""

from __future__ import annotations

import json

from tinydeploy.cli.main import main


def test_cli_export_to_c(sparse_cli_export):
    out = sparse_cli_export
    for name in ("model.onnx", "model_int8.tflite", "onnx2tf.log", "export_report.json",
                 "export_report.md", "c/model.h", "c/model.c", "c/size_report.json",
                 "c/size_report.md"):
        assert (out / name).is_file(), name
    rep = json.loads((out / "export_report.json").read_text())
    assert rep["onnx"]["parity"]["ok"]
    t = rep["tflite"]
    assert t["reference_vs_tflm_mismatched_images"] == 0 and t["eval_images"] == 300
    assert all(z["survived"] for z in t["zeros"])
    assert abs(t["int8_loss_points_tflm"]) < 3.0
    assert rep["c"]["ratio_vs_dense"] < 0.35
    assert "| fc1 |" in (out / "export_report.md").read_text()


def test_existing_output_needs_force(sparse_cli_export, capsys):
    before = sorted(p.name for p in sparse_cli_export.iterdir())
    rc = main(["export", "--tflite", str(sparse_cli_export / "model_int8.tflite"), "--to", "c",
               "--out", str(sparse_cli_export)])
    assert rc == 2 and "--force" in capsys.readouterr().err
    assert sorted(p.name for p in sparse_cli_export.iterdir()) == before


def test_c_from_tflite_and_bad_choices(sparse_cli_export, tmp_path):
    src = sparse_cli_export / "model_int8.tflite"
    out = tmp_path / "c_only"
    assert main(["export", "--tflite", str(src), "--to", "c", "--sparse", "csr",
                 "--out", str(out)]) == 0
    assert (out / "c" / "model.c").is_file()
    bad = tmp_path / "bad"
    assert main(["export", "--tflite", str(src), "--to", "c", "--sparse", "zip",
                 "--out", str(bad)]) == 2
    assert main(["export", "--tflite", str(src), "--to", "wasm", "--out", str(bad)]) == 2
    assert not bad.exists()


def test_same_checkpoint_exports_byte_identical_c(sparse_cli_export, sparse_checkpoint,
                                                    data_dir, tmp_path):
    """Reproducible output: no date or path in the generated files, only input hashes."""
    again = tmp_path / "again"
    rc = main(["export", "--checkpoint", str(sparse_checkpoint), "--to", "c", "--sparse",
               "auto", "--calib-images", "64", "--eval-limit", "300", "--data-dir",
               str(data_dir), "--out", str(again)])
    assert rc == 0
    assert (again / "model_int8.tflite").read_bytes() == \
        (sparse_cli_export / "model_int8.tflite").read_bytes()
    for name in ("model.c", "model.h"):
        first = (sparse_cli_export / "c" / name).read_bytes()
        assert (again / "c" / name).read_bytes() == first, name
        assert b"sha256:" in first.splitlines()[0]  # provenance = the input's hash


def test_export_warns_when_it_calibrates_on_other_images_than_qat(sparse_cli_export):
    report = json.loads((sparse_cli_export / "export_report.json").read_text())
    assert report["tflite"]["calibration_images"] == 64
    [warning] = report["warnings"]
    assert "first 500 training images" in warning and "calibrates on 64" in warning
    assert f"**Warning:** {warning}" in (sparse_cli_export / "export_report.md").read_text()
