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
# onnx2tf downloads this sample file (from GitHub) for its dummy inference whenever every input
# is 4-D with 3 channels, even with -cind; it reads it from the working directory first.
ONNX2TF_SAMPLE_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"


def calibration_array(images_u8: np.ndarray) -> np.ndarray:
    """uint8 NCHW -> float32 NHWC in [0, 1], the layout onnx2tf's calibration expects."""
    return np.ascontiguousarray(images_u8.astype(np.float32).transpose(0, 2, 3, 1) / 255.0)


def samples_calibration_array(samples: np.ndarray) -> np.ndarray:
    """Float inputs in the ONNX layout (N, C, ...) -> float32 channels last, as onnx2tf
    transposes every input of rank >= 3; (N, features) stays as it is."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim >= 3:
        x = np.moveaxis(x, 1, -1)
    return np.ascontiguousarray(x)


def onnx_to_int8_tflite(onnx_path: str | Path, out_path: str | Path,
                        calib_images_u8: np.ndarray | None = None, *,
                        calib_samples: np.ndarray | None = None,
                        log_path: str | Path | None = None) -> Path:
    """Convert `onnx_path` (never modified) to an int8 .tflite at `out_path`.

    Calibration takes exactly one of: `calib_images_u8`, uint8 images (N, C, H, W) that the
    model sees as x/255 (tinydeploy's datasets); or `calib_samples`, float inputs exactly
    as the model takes them, of any rank (e.g. MFCC frames, a flattened spectrogram)."""
    onnx_path, out_path = Path(onnx_path), Path(out_path)
    model = load_onnx(onnx_path)
    check_onnx_ops(model)
    input_name, input_shape, _ = onnx_io(model)
    if (calib_images_u8 is None) == (calib_samples is None):
        raise ExportError("calibration needs either uint8 images or float samples (not both)")
    if calib_images_u8 is not None:
        calib_raw, what = calib_images_u8, "images"
        if len(calib_raw) and calib_raw.ndim != 4:
            raise ExportError(f"calibration images must be uint8 (N, C, H, W), got shape "
                              f"{list(calib_raw.shape)}; pass non-image inputs as calib_samples")
    else:
        calib_raw, what = np.asarray(calib_samples), "samples"
    if len(calib_raw) == 0:
        raise ExportError("calibration needs at least one image (--calib-images >= 1)")
    if list(calib_raw.shape[1:]) != input_shape[1:]:
        raise ExportError(
            f"shape mismatch: model input is {input_shape}, calibration {what} are "
            f"{list(calib_raw.shape)}"
        )
    calib_data = (calibration_array(calib_raw) if calib_images_u8 is not None
                  else samples_calibration_array(calib_raw))
    channels = calib_data.shape[-1]
    with tempfile.TemporaryDirectory(prefix="tinydeploy-onnx2tf-") as tmp_name:
        tmp = Path(tmp_name)
        work_onnx = tmp / "model.onnx"
        shutil.copyfile(onnx_path, work_onnx)
        calib = tmp / "calib.npy"
        np.save(calib, calib_data)
        if calib_data.ndim == 4 and calib_data.shape[-1] == 3:
            np.save(tmp / ONNX2TF_SAMPLE_FILE, calib_data[:20])  # resized by onnx2tf
        # mean 0 / std 1 (no normalisation), shaped to broadcast over the input's rank
        rank = calib_data.ndim
        zeros = "[" * rank + ",".join(["0.0"] * channels) + "]" * rank
        ones = "[" * rank + ",".join(["1.0"] * channels) + "]" * rank
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
