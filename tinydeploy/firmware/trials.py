"""Sweep trial: one on-device benchmark (`tinydeploy.firmware.trials:qemu_benchmark`).

A firmware benchmark matrix (models x weight formats x boards) is a grid of these trials run
through `tinydeploy.sweep`, so an interrupted matrix resumes where it stopped. The trial
returns the compact numbers a matrix needs; the full report stays in the work directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tinydeploy.firmware.bench import plan, run_plan
from tinydeploy.firmware.boards import get_board
from tinydeploy.firmware.build import BuildSettings
from tinydeploy.firmware.fromtflite import model_dir_from_tflite


def summarize(report: dict[str, Any]) -> dict[str, Any]:
    """The numbers of one benchmark report that a matrix row holds."""
    m = report["measured"]
    unit = m["unit"]
    return {
        "unit": unit,
        "images": m["images"],
        "per_inference": m["per_inference"][f"{unit}_mean"],
        "per_layer": {layer["name"]: layer[f"{unit}_mean"] for layer in m["per_layer"]},
        "device_top1": m["accuracy"]["top1"],
        "bit_exact": m["expected_outputs"]["bit_exact"],
        "mismatch_images": m["expected_outputs"]["mismatch_images"],
        "flash": {k: report["flash_bytes"][k] for k in ("code", "weights", "other", "total")},
        "ram": {k: report["ram_bytes"][k]
                for k in ("activations", "stack_high_water", "peak_model", "peak")},
        "ram_predicted": {"peak_model": report["ram_predicted"]["peak_model"],
                          "stack_bound": report["ram_predicted"]["stack_bound"]["bytes"],
                          "measured_within": report["ram_predicted"]["measured_within"]},
        "status": report["status"],
    }


def qemu_benchmark(p: dict[str, Any]) -> dict[str, Any]:
    """params: tflite, format, board, samples, work_dir; optional data_dir, dataset, inputs
    ("dataset" | "random" | a .npy path) and seed, objective ("bytes" | "latency"),
    expected_from ("reference" | "tflm"), opt, and
    layer_formats ({op name: format}: a latency-aware allocation's choice per layer)."""
    work = Path(p["work_dir"])
    layer_formats = dict(p["layer_formats"]) if p.get("layer_formats") else None
    gen = model_dir_from_tflite(
        Path(p["tflite"]), work / "model", fmt=p["format"], dataset=p.get("dataset", "mnist"),
        data_dir=p.get("data_dir"), samples=int(p["samples"]),
        inputs=p.get("inputs", "dataset"), seed=int(p.get("seed", 0)),
        objective=p.get("objective", "bytes"), expected_from=p.get("expected_from"),
        layer_formats=layer_formats)
    settings = BuildSettings(opt=p["opt"]) if "opt" in p else BuildSettings()
    bp = plan(get_board(p["board"]), work / "model", work / "fw", settings=settings)
    report = run_plan(bp, settings)
    g = gen["generator"]
    return {
        **summarize(report),
        "host_int8_top1": (None if gen["host_int8_correct"] is None
                           else round(100.0 * gen["host_int8_correct"] / gen["samples"], 4)),
        "expected_from": gen["expected_from"],
        "reference_equals_tflm": gen["reference_equals_tflm"],
        "chosen_formats": {row["layer"]: row["chosen"] for row in g["layers"]},
        "weight_bytes": g["total_weight_bytes"],
        "dense_weight_bytes": g["total_dense_bytes"],
    }
