"""Run the int8 .tflite on LiteRT (accuracy) and TFLite Micro (the bit-exact reference).

LiteRT is not bit-exact with TFLM (its FULLY_CONNECTED rounds once); use TFLM to check
the numpy reference executor and the C kernels, LiteRT only for accuracy.
"""

from __future__ import annotations

import numpy as np

from tinydeploy.errors import ExportError


def quantize_images(images_u8: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """uint8 NCHW images (the model sees x/255) -> int8 NHWC model inputs."""
    x = images_u8.astype(np.float32) / np.float32(255.0)
    q = np.round(x / np.float32(scale)) + zero_point
    return np.clip(q, -128, 127).astype(np.int8).transpose(0, 2, 3, 1).copy()


def run_litert(tflite_bytes: bytes, x: np.ndarray) -> np.ndarray:
    """int8 NHWC inputs (B, H, W, C) -> int8 outputs, one image at a time (batch 1 model)."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        interp = Interpreter(model_content=tflite_bytes, num_threads=1)
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ExportError(f"LiteRT cannot load the model: {exc}") from exc
    inp = interp.get_input_details()[0]["index"]
    out = interp.get_output_details()[0]["index"]
    results = []
    for i in range(len(x)):
        interp.set_tensor(inp, x[i : i + 1])
        interp.invoke()
        results.append(interp.get_tensor(out).copy())
    return np.concatenate(results) if results else np.zeros((0,), np.int8)


def run_tflm(tflite_bytes: bytes, x: np.ndarray) -> np.ndarray:
    """int8 NHWC inputs -> int8 outputs on TFLite Micro (host build of the reference kernels)."""
    import tflite_micro

    try:
        interp = tflite_micro.runtime.Interpreter.from_bytes(tflite_bytes)
    except (RuntimeError, ValueError) as exc:
        raise ExportError(f"TFLite Micro cannot load the model: {exc}") from exc
    results = []
    for i in range(len(x)):
        interp.set_input(x[i : i + 1], 0)
        interp.invoke()
        results.append(interp.get_output(0).copy())
    return np.concatenate(results) if results else np.zeros((0,), np.int8)


def top1(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy in percent (int8 outputs rank like the float logits)."""
    if len(labels) == 0:
        return 0.0
    return float((outputs.reshape(len(labels), -1).argmax(1) == labels).mean() * 100)


def zeros_per_layer(model, graph) -> list[dict]:
    """Exact zeros per weighted layer: float (PyTorch) vs int8 (TFLite), element for element.

    Layers pair up in order; conv weights are compared in OHWI, FC weights as exported
    (before transposes are folded). `survived` is True when every float zero is an int8 zero.
    """
    from torch import nn

    torch_layers = [(n, m) for n, m in model.named_modules()
                    if isinstance(m, nn.Conv2d | nn.Linear)]
    ops = graph.weighted_ops()
    rows = []
    for idx, op in enumerate(ops):
        row = {"layer": op.name, "int8_zeros": int((op.weights == 0).sum()),
               "size": int(op.weights.size)}
        if len(torch_layers) == len(ops):
            name, mod = torch_layers[idx]
            w = mod.weight.detach().cpu().numpy()
            if w.ndim == 4:
                w = w.transpose(0, 2, 3, 1) if op.kind == "CONV_2D" else w.transpose(1, 2, 3, 0)
            if w.shape != op.weights.shape:
                raise ExportError(f"shape mismatch between PyTorch {name} {w.shape} and "
                                  f"{op.name} {op.weights.shape}")
            fz = w == 0
            row.update({
                "torch_layer": name, "float_zeros": int(fz.sum()),
                "survived": bool(np.all(op.weights[fz] == 0)),
                "extra_int8_zeros": int(((op.weights == 0) & ~fz).sum()),
            })
        rows.append(row)
    return rows
