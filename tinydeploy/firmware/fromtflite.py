"""A model directory for the firmware from an int8 .tflite: generated C + test vectors.

Reads the .tflite into the IR, generates model.h/model.c with tinydeploy.codegen in the given
weight format, and writes test_vectors.npz: the inputs, their labels (-1: none) and the
outputs the firmware must reproduce (int8, or uint8 / float32 for a model with such edges).
Inputs are the first N test images of a dataset (quantized with the model's input scale/zero
point; expected outputs from the host reference executor, bit-exact with TFLite Micro,
unless TFLite Micro is asked for), seeded random tensors of the model's input shape and
dtype, or a .npy file of the user's; for the last two the
expected outputs come from TFLite Micro itself, so any model runs without a dataset.

A float32-input model (the converter's QUANTIZE in front) gets random floats drawn uniformly
from the range its first QUANTIZE maps onto int8, widened by an eighth on each side so that
the clamp at both ends runs too; dataset images become x / 255 in float32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tinydeploy.errors import FirmwareError
from tinydeploy.firmware.testdata import VECTORS_FILE

_RANGES = {"int8": (-128, 127), "uint8": (0, 255)}


def quantize_images(images_u8: np.ndarray, scale: float, zero_point: int,
                    shape: tuple[int, ...], dtype: str = "int8") -> np.ndarray:
    """uint8 NCHW images -> model input of `dtype` (NHWC when the model input is 4-D NHWC):
    x / 255 quantized to int8 / uint8, or as it is for float32."""
    x = images_u8.astype(np.float64) / 255.0
    if len(shape) == 4 and x.ndim == 4 and x.shape[1] == shape[3] and x.shape[1:] != shape[1:]:
        x = x.transpose(0, 2, 3, 1)
    if dtype == "float32":
        return x.astype(np.float32).reshape(len(x), *shape[1:])
    q = _quantize(x, scale, zero_point, dtype)
    return q.reshape(len(q), *shape[1:])


def _quantize(x: np.ndarray, scale: float, zero_point: int, dtype: str) -> np.ndarray:
    lo, hi = _RANGES[dtype]
    return np.clip(np.round(x / scale) + zero_point, lo, hi).astype(dtype)


def random_inputs(graph, samples: int, seed: int) -> np.ndarray:
    """Seeded random inputs of the model's input shape and dtype (module docstring)."""
    inp = graph.input_tensor
    rng = np.random.default_rng(seed)
    size = (samples, *inp.shape[1:])
    if inp.dtype != "float32":
        lo, hi = _RANGES[inp.dtype]
        return rng.integers(lo, hi + 1, size=size, dtype=np.dtype(inp.dtype))
    first = next((op for op in graph.ops if op.kind == "QUANTIZE" and op.input == graph.input),
                 None)
    if first is None:
        raise FirmwareError("--inputs random for a float32 input needs the model's QUANTIZE "
                            "of that input (to know its range); give a .npy of floats")
    lo = (-128 - first.zero_point) * first.scale
    hi = (127 - first.zero_point) * first.scale
    margin = (hi - lo) / 8
    return rng.uniform(lo - margin, hi + margin, size=size).astype(np.float32)


INPUT_KINDS = ("dataset", "random")  # or the path of a .npy file


def model_inputs(graph, inputs: str, samples: int, dataset: str, data_dir: Path | None,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(inputs [N, *input shape without batch] of the model's input dtype, labels [N], -1
    where unknown)."""
    shape = graph.input_tensor.shape
    inp = graph.input_tensor
    if inputs == "dataset":
        from tinydeploy.data import load_dataset

        ds = load_dataset(dataset, data_dir)
        x = quantize_images(np.asarray(ds.test_images[:samples]), inp.scale, inp.zero_point,
                            shape, inp.dtype)
        return x, np.asarray(ds.test_labels[:samples]).astype(np.int16)
    if inputs == "random":
        return random_inputs(graph, samples, seed), np.full(samples, -1, dtype=np.int16)
    path = Path(inputs)
    if path.suffix != ".npy":
        raise FirmwareError(f"--inputs must be dataset, random or a .npy file, got {inputs!r}")
    if not path.is_file():
        raise FirmwareError(f"--inputs file {path} does not exist")
    try:
        a = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise FirmwareError(f"cannot read {path} as a .npy array: {exc}") from exc
    per_input = int(np.prod(shape[1:]))
    if a.size % per_input or a.size == 0:
        raise FirmwareError(f"{path} holds {a.size} values of shape {a.shape}, not a whole "
                            f"number of the model's inputs {tuple(shape[1:])}")
    if np.issubdtype(a.dtype, np.floating):
        # real values: the float model takes them, a quantized one quantizes like TFLite
        a = (a.astype(np.float32) if inp.dtype == "float32"
             else _quantize(a, inp.scale, inp.zero_point, inp.dtype))
    elif a.dtype != np.dtype(inp.dtype) or inp.dtype == "float32":
        raise FirmwareError(f"{path} is {a.dtype}: give {inp.dtype} (already quantized) or "
                            "float values" if inp.dtype != "float32" else
                            f"{path} is {a.dtype}: the model takes float32 values")
    x = a.reshape(-1, *shape[1:])[:samples]
    return x, np.full(len(x), -1, dtype=np.int16)


def model_dir_from_tflite(tflite: Path, out_dir: Path, *, fmt: str = "auto",
                          dataset: str = "mnist", data_dir: Path | None = None,
                          samples: int = 100, objective: str = "bytes",
                          expected_from: str | None = None, inputs: str = "dataset",
                          seed: int = 0,
                          layer_formats: dict[str, str] | None = None) -> dict[str, Any]:
    """Write out_dir/{model.h, model.c, test_vectors.npz}; returns the generator's report.

    objective: how `auto` picks each layer's format: fewest bytes, or lowest estimated
    latency from the kernels' cost model (tinydeploy/resources/cost_models).
    layer_formats: {op name: format} for layers whose format is already decided (a
    latency-aware allocation); they override `fmt`.
    inputs: "dataset" (its test images), "random" (seeded by `seed`) or a .npy path.
    expected_from: "reference" (numpy executor) or "tflm" (TFLite Micro itself, slower): the
    int8 outputs the firmware must reproduce; default "reference" for dataset images, "tflm"
    otherwise. With "tflm" the reference is checked too."""
    if expected_from is None:
        expected_from = "reference" if inputs == "dataset" else "tflm"
    if expected_from not in ("reference", "tflm"):
        raise FirmwareError(f"expected_from must be 'reference' or 'tflm', got {expected_from!r}")
    from tinydeploy.codegen import generate_c
    from tinydeploy.codegen.generator import provenance_line
    from tinydeploy.codegen.select import CostModel
    from tinydeploy.ir import read_tflite
    from tinydeploy.ir.reference import run

    if not Path(tflite).is_file():
        raise FirmwareError(f"{tflite} does not exist")
    graph = read_tflite(Path(tflite))
    x, labels = model_inputs(graph, inputs, samples, dataset, data_dir, seed)
    gen = generate_c(graph, fmt, golden_input=x[0], provenance=provenance_line(
                         Path(tflite).read_bytes(), fmt, objective),
                     cost_model=CostModel.load(), objective=objective,
                     layer_formats=layer_formats)
    out_dtype = graph.output_tensor.dtype
    expected = run(graph, x).reshape(len(x), -1)
    reference_equals_tflm = None
    if expected_from == "tflm":
        from tinydeploy.export.runtimes import run_tflm

        tflm = run_tflm(Path(tflite).read_bytes(), x).reshape(expected.shape)
        if tflm.dtype != np.dtype(out_dtype):
            raise FirmwareError(f"TFLite Micro gave {tflm.dtype} outputs, the model's are "
                                f"{out_dtype}")
        # float32 outputs: the same bits (TFLM's arithmetic), not merely close values
        reference_equals_tflm = bool(np.array_equal(tflm.view(np.uint8),
                                                    expected.view(np.uint8)))
        expected = tflm
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in gen.files.items():
        (out_dir / name).write_text(text)
    np.savez(out_dir / VECTORS_FILE, inputs=x.reshape(len(x), -1), labels=labels,
             expected=expected)
    labelled = labels >= 0
    host_correct = (int((np.argmax(expected, axis=1) == labels)[labelled].sum())
                    if labelled.any() else None)
    return {"generator": gen.report, "host_int8_correct": host_correct, "samples": len(x),
            "inputs": inputs, "expected_from": expected_from,
            "reference_equals_tflm": reference_equals_tflm}
