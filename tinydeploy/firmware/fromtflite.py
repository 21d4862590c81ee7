"""A model directory for the firmware from an int8 .tflite: generated C + test vectors.

Reads the .tflite into the IR, generates model.h/model.c with tinydeploy.codegen in the given
weight format, and writes test_vectors.npz: the first N test images of a dataset quantized
with the model's input scale/zero point, their labels, and the expected int8 outputs of the
host reference executor (tinydeploy.ir.reference, bit-exact with TFLite Micro).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tinydeploy.errors import FirmwareError
from tinydeploy.firmware.testdata import VECTORS_FILE


def quantize_images(images_u8: np.ndarray, scale: float, zero_point: int,
                    shape: tuple[int, ...]) -> np.ndarray:
    """uint8 NCHW images -> int8 model input (NHWC when the model input is 4-D NHWC)."""
    x = images_u8.astype(np.float64) / 255.0
    if len(shape) == 4 and x.ndim == 4 and x.shape[1] == shape[3] and x.shape[1:] != shape[1:]:
        x = x.transpose(0, 2, 3, 1)
    q = np.clip(np.round(x / scale) + zero_point, -128, 127).astype(np.int8)
    return q.reshape(len(q), *shape[1:])


def model_dir_from_tflite(tflite: Path, out_dir: Path, *, fmt: str = "auto",
                          dataset: str = "mnist", data_dir: Path | None = None,
                          samples: int = 100, objective: str = "bytes",
                          expected_from: str = "reference",
                          layer_formats: dict[str, str] | None = None) -> dict[str, Any]:
    """Write out_dir/{model.h, model.c, test_vectors.npz}; returns the generator's report.

    objective: how `auto` picks each layer's format: fewest bytes, or lowest estimated
    latency from the kernels' cost model (tinydeploy/resources/cost_models).
    layer_formats: {op name: format} for layers whose format is already decided (a
    latency-aware allocation); they override `fmt`.
    expected_from: "reference" (numpy executor) or "tflm" (TFLite Micro itself, slower): the
    int8 outputs the firmware must reproduce. With "tflm" the reference is checked too."""
    if expected_from not in ("reference", "tflm"):
        raise FirmwareError(f"expected_from must be 'reference' or 'tflm', got {expected_from!r}")
    from tinydeploy.codegen import generate_c
    from tinydeploy.codegen.generator import provenance_line
    from tinydeploy.codegen.select import CostModel
    from tinydeploy.data import load_dataset
    from tinydeploy.ir import read_tflite
    from tinydeploy.ir.reference import run

    if not Path(tflite).is_file():
        raise FirmwareError(f"{tflite} does not exist")
    graph = read_tflite(Path(tflite))
    ds = load_dataset(dataset, data_dir)
    inp = graph.input_tensor
    x = quantize_images(np.asarray(ds.test_images[:samples]), inp.scale, inp.zero_point,
                        inp.shape)
    labels = np.asarray(ds.test_labels[:samples]).astype(np.int16)
    gen = generate_c(graph, fmt, golden_input=x[0], provenance=provenance_line(
                         Path(tflite).read_bytes(), fmt, objective),
                     cost_model=CostModel.load(), objective=objective,
                     layer_formats=layer_formats)
    expected = run(graph, x).reshape(len(x), -1).astype(np.int8)
    reference_equals_tflm = None
    if expected_from == "tflm":
        from tinydeploy.export.runtimes import run_tflm

        tflm = run_tflm(Path(tflite).read_bytes(), x).reshape(expected.shape).astype(np.int8)
        reference_equals_tflm = bool(np.array_equal(tflm, expected))
        expected = tflm
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in gen.files.items():
        (out_dir / name).write_text(text)
    np.savez(out_dir / VECTORS_FILE, inputs=x.reshape(len(x), -1), labels=labels,
             expected=expected)
    host_correct = int((np.argmax(expected, axis=1) == labels).sum())
    return {"generator": gen.report, "host_int8_correct": host_correct, "samples": len(x),
            "expected_from": expected_from, "reference_equals_tflm": reference_equals_tflm}
