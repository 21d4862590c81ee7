"""ONNX -> full-integer int8 TFLite with onnx2tf (run in a subprocess).

Per-channel weights, int8 input and output, calibration from training images written as a
NHWC float .npy (x/255) and passed with `-cind`: without it onnx2tf tries to download sample
data. onnx2tf overwrites its input .onnx, so it always works on a private copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from tinydeploy.errors import ExportError
from tinydeploy.export.onnx_export import check_onnx_ops, load_onnx, onnx_io

TIMEOUT_S = 900


def calibration_array(images_u8: np.ndarray) -> np.ndarray:
    """uint8 NCHW -> float32 NHWC in [0, 1], the layout onnx2tf's calibration expects."""
    return np.ascontiguousarray(images_u8.astype(np.float32).transpose(0, 2, 3, 1) / 255.0)


def onnx_to_int8_tflite(onnx_path: str | Path, out_path: str | Path,
                        calib_images_u8: np.ndarray, *, log_path: str | Path | None = None) -> Path:
    """Convert `onnx_path` (never modified) to an int8 .tflite at `out_path`."""
    onnx_path, out_path = Path(onnx_path), Path(out_path)
    model = load_onnx(onnx_path)
    check_onnx_ops(model)
    input_name, input_shape, _ = onnx_io(model)
    if len(calib_images_u8) == 0:
        raise ExportError("calibration needs at least one image (--calib-images >= 1)")
    if list(calib_images_u8.shape[1:]) != input_shape[1:]:
        raise ExportError(
            f"shape mismatch: model input is {input_shape}, calibration images are "
            f"{list(calib_images_u8.shape)}"
        )
    channels = input_shape[1]
    with tempfile.TemporaryDirectory(prefix="tinydeploy-onnx2tf-") as tmp_name:
        tmp = Path(tmp_name)
        work_onnx = tmp / "model.onnx"
        shutil.copyfile(onnx_path, work_onnx)
        calib = tmp / "calib.npy"
        np.save(calib, calibration_array(calib_images_u8))
        zeros = "[[[[" + ",".join(["0.0"] * channels) + "]]]]"
        ones = "[[[[" + ",".join(["1.0"] * channels) + "]]]]"
        cmd = [
            sys.executable, "-m", "onnx2tf", "-i", str(work_onnx), "-o", str(tmp / "tf"),
            "-oiqt", "-qt", "per-channel", "-iqd", "int8", "-oqd", "int8",
            "-cind", input_name, str(calib), zeros, ones, "-n",
        ]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "-1",
               "PYTHONWARNINGS": "ignore"}
        try:
            proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, env=env,
                                  timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise ExportError(f"onnx2tf did not finish within {TIMEOUT_S} s") from exc
        if log_path is not None:
            Path(log_path).write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
        produced = sorted((tmp / "tf").glob("*_full_integer_quant.tflite"))
        if proc.returncode != 0 or not produced:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise ExportError(f"onnx2tf failed (exit {proc.returncode}):\n{tail}")
        out_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(produced[0], out_path)
    return out_path
