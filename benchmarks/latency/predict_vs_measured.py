"""Predicted vs measured instructions per layer: does the cost table tell the truth?

For TinyNet and LeNet-5 (conv 1->20 5x5, conv 20->50 5x5, fc 800->500->10), each briefly
trained and exported to int8 TFLite: build the cost table of their layer shapes on a QEMU
core (measured on synthetic one-layer graphs, cached), then deploy the REAL models with
per-layer formats and sparsities off the table's grid (their own weights magnitude-pruned in
int8), run them on QEMU and compare every layer's measured instructions with the table's
prediction. Writes benchmarks/results/latency_predict_<board>.json.

Usage: .venv/bin/python benchmarks/latency/predict_vs_measured.py [--board qemu-m4]
       [--work runs/latency] [--tolerance 0.05]
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from tinydeploy.codegen.generator import generate_c
from tinydeploy.firmware.boards import get_board
from tinydeploy.firmware.build import BuildSettings
from tinydeploy.ir import read_tflite
from tinydeploy.latency.measure import fingerprint, run_generated
from tinydeploy.latency.shapes import layer_params, layer_shapes
from tinydeploy.latency.sparsify import format_sparsity, sparsify
from tinydeploy.latency.table import build_table
from tinydeploy.rundir import write_json_atomic

RESULTS = Path(__file__).resolve().parents[1] / "results"
MODELS = ("tinynet", "lenet5")
# Per-layer (format, sparsity) plans, in layer order; sparsities off the table's grid.
PLANS: dict[str, list[tuple[str, float]]] = {
    "dense": [("dense", 0.0)] * 4,
    "csr-off-grid": [("csr", 0.62), ("csr", 0.85), ("csr", 0.93), ("csr", 0.75)],
    "csr-high": [("csr", 0.97), ("csr", 0.985), ("csr", 0.96), ("csr", 0.55)],
    "nm": [("nm2_4", 0.0), ("nm1_8", 0.0), ("nm1_16", 0.0), ("nm1_4", 0.0)],
    "mixed": [("dense", 0.0), ("nm1_8", 0.0), ("csrd", 0.91), ("csr", 0.66)],
}


def tinydeploy(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "tinydeploy.cli.main", *args], check=True)


def exported_model(name: str, work: Path, data_dir: Path | None = None) -> Path:
    """Train briefly (1 epoch, 10,000 images) and export to int8 TFLite; reused when present."""
    tflite = work / f"{name}-export" / "model_int8.tflite"
    data = ["--data-dir", str(data_dir)] if data_dir else []
    if not tflite.is_file():
        tinydeploy("train", "--model", name, "--epochs", "1", "--train-limit", "10000",
                   "--out", str(work / name), "--force", *data)
        tinydeploy("export", "--checkpoint", str(work / name / "model"), "--to", "tflite",
                   "--calib-images", "200", "--eval-limit", "500",
                   "--out", str(work / f"{name}-export"), "--force", *data)
    return tflite


def measure_real(graph, assignment: dict[str, tuple[str, float]], board, settings
                 ) -> dict[str, float]:
    """Deploy `graph` with each layer pruned and stored as assigned; measured per layer."""
    g = copy.deepcopy(graph)
    for op in g.weighted_ops():
        fmt, s = assignment[op.name]
        w2d = op.weights.reshape(op.weights.shape[0], -1)
        op.weights = sparsify(w2d, fmt, s).reshape(op.weights.shape)
    gen = generate_c(g, "dense", layer_formats={k: f for k, (f, _) in assignment.items()},
                     provenance="latency prediction check")
    return run_generated(gen, board.name, settings.opt)["per_layer_counts"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", default="qemu-m4")
    ap.add_argument("--work", type=Path, default=Path("runs/latency"))
    ap.add_argument("--tolerance", type=float, default=0.05)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="where mnist/ lives (default: $TINYDEPLOY_DATA or the cache)")
    ap.add_argument("--synthetic", action="store_true",
                    help="predict from synthetic layers of the same shapes (shared by any "
                    "model) instead of each model's own int8 layers")
    args = ap.parse_args(argv)
    out = args.out or RESULTS / (f"latency_predict_{args.board}"
                                 f"{'_synthetic' if args.synthetic else ''}.json")
    board, settings = get_board(args.board), BuildSettings()
    load_before = os.getloadavg()
    t0 = time.monotonic()
    models = {}
    for name in MODELS:
        graph = read_tflite(exported_model(name, args.work, args.data_dir))
        shapes = layer_shapes(graph)
        table = build_table(shapes, args.board,
                            params=None if args.synthetic else layer_params(graph))
        rows = []
        for plan_name, per_layer in PLANS.items():
            assignment = dict(zip(shapes, per_layer, strict=True))
            measured = measure_real(graph, assignment, board, settings)
            for layer, (fmt, s) in assignment.items():
                predicted = table.predict(layer, fmt, format_sparsity(fmt, s))
                err = (predicted - measured[layer]) / measured[layer]
                rows.append({"plan": plan_name, "layer": layer, "shape": shapes[layer].label(),
                             "format": fmt, "sparsity": format_sparsity(fmt, s),
                             "predicted": round(predicted, 1), "measured": measured[layer],
                             "rel_error": round(err, 4)})
                print(f"{name:<8}{plan_name:<14}{layer:<8}{fmt:<7}{s:>6.3f}"
                      f"{predicted:>12,.0f}{measured[layer]:>12,.0f}{100 * err:>8.2f}%")
        worst = max(abs(r["rel_error"]) for r in rows)
        models[name] = {"tflite": str(args.work / f"{name}-export" / "model_int8.tflite"),
                        "layers": {k: v.label() for k, v in shapes.items()},
                        "max_abs_rel_error": worst, "within_tolerance": worst <= args.tolerance,
                        "rows": rows, "table": table.to_json()}
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "board": args.board, "qemu_machine": board.qemu_machine,
        "metric": "instructions retired per layer (QEMU -icount shift=0, SysTick ticks x "
                  f"{board.counts_per_tick():.0f}), golden input, one inference",
        "tolerance": args.tolerance, "kernel_fingerprint": fingerprint(settings.opt),
        "prediction": ("cost table measured on synthetic one-layer graphs of the same shapes "
                       "(seeded int8 weights)" if args.synthetic else "cost table measured on "
                       "each model's own int8 layers in isolation (dense weights, magnitude-"
                       "sparsified per point)") + "; linear in sparsity between measured "
                      "points (grid 0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99), never "
                      "extrapolated; the deployed plans use sparsities off that grid",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "loadavg_before": load_before, "loadavg_after": os.getloadavg()},
        "seconds": round(time.monotonic() - t0, 1),
        "models": models,
    }
    write_json_atomic(out, report)
    print("max |error|: " + ", ".join(f"{n} {100 * m['max_abs_rel_error']:.2f}%"
                                        for n, m in models.items()) + f"; wrote {out}")
    return 0 if all(m["within_tolerance"] for m in models.values()) else 1


if __name__ == "__main__":
    np.set_printoptions(linewidth=120)
    sys.exit(main())
