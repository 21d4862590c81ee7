"""Latency-aware pruning to instruction budgets, verified on the device.

From a trained dense checkpoint: `tinydeploy prune --objective latency` at each budget (or
speed-up), export, then every model on QEMU over the test set with the expected int8
outputs taken from TFLite Micro itself. Reports, per model, the measured instructions per
inference (total and per layer, next to the allocation's prediction), the on-device int8
accuracy, the host float / int8 accuracies, flash and peak RAM, the fine-tuning budget and
wall time. Writes benchmarks/results/latency_budgets_<board>.json.

Usage: .venv/bin/python benchmarks/latency/budgets.py --checkpoint runs/bench-train/mnist \\
       [--budgets 250000 200000] [--board qemu-m4] [--samples 10000] [--finetune-epochs 10]
       [--recipe recommended] [--work runs/latency-budgets-recommended]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from tinydeploy.codegen.select import allocated_formats
from tinydeploy.ir import read_tflite
from tinydeploy.prune.recipes import get_recipe
from tinydeploy.rundir import write_json_atomic
from tinydeploy.sweep import Trial, run_sweep

RESULTS = Path(__file__).resolve().parents[1] / "results"


def tinydeploy(*args: str) -> float:
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "tinydeploy.cli.main", *args], check=True)
    return time.monotonic() - t0


def export(checkpoint: Path, out: Path, samples: int) -> dict:
    if not (out / "model_int8.tflite").is_file():
        tinydeploy("export", "-c", str(checkpoint), "--to", "tflite", "--eval-limit",
                   str(samples), "--out", str(out), "--force")
    return json.loads((out / "export_report.json").read_text())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--budgets", type=float, nargs="+", default=[250_000, 200_000])
    ap.add_argument("--board", default="qemu-m4")
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--finetune-epochs", type=int, default=10)
    ap.add_argument("--finetune-lr", type=float, default=1e-3)
    ap.add_argument("--recipe", default=None,
                    help="a named fine-tuning recipe (tinydeploy prune --recipe) instead of "
                    "--finetune-epochs/--finetune-lr")
    ap.add_argument("--work", type=Path, default=Path("runs/latency-budgets"))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    out = args.out or RESULTS / f"latency_budgets_{args.board}.json"
    load_before = os.getloadavg()
    t_start = time.monotonic()
    models: dict[str, dict] = {"dense": {"checkpoint": str(args.checkpoint)}}
    for budget in args.budgets:
        name = f"budget-{budget:.0f}"
        run = args.work / name
        seconds = None
        if not (run / "latency_allocation.json").is_file():
            finetune = (["--recipe", args.recipe] if args.recipe else
                        ["--recipe", "course", "--finetune-epochs", str(args.finetune_epochs),
                         "--finetune-lr", str(args.finetune_lr)])
            seconds = tinydeploy(
                "prune", "-c", str(args.checkpoint), "--objective", "latency", "--board",
                args.board, "--budget", f"{budget:.0f}", *finetune, "--out", str(run),
                "--force")
        models[name] = {"checkpoint": str(run / "model"), "budget": budget,
                        "prune_seconds": seconds,
                        "allocation": json.loads((run / "latency_allocation.json").read_text())}
    trials = {}
    for name, m in models.items():
        rep = export(Path(m["checkpoint"]), args.work / f"{name}-export", args.samples)
        tflite = args.work / f"{name}-export" / "model_int8.tflite"
        m["float_top1"] = rep.get("float_top1")
        m["int8_tflm_top1_host"] = rep["tflite"]["tflm_top1"]
        formats = None
        if "allocation" in m:
            formats = allocated_formats({"latency": m["allocation"]}, read_tflite(tflite))
        trials[name] = Trial("tinydeploy.firmware.trials:qemu_benchmark", {
            "tflite": str(tflite.resolve()), "format": "dense" if formats is None else "auto",
            "layer_formats": formats, "board": args.board, "samples": args.samples,
            "expected_from": "tflm", "objective": "latency",
            "work_dir": str((args.work / f"{name}-device").resolve())})
    summary = run_sweep(trials.values(), args.work / "device-sweep", description="device runs")
    if not summary.ok:
        raise SystemExit(f"device runs failed: {summary.failed}")
    dense_instr = None
    for name, m in models.items():
        r = summary.records[trials[name].id]["result"]
        m["device"] = r
        if name == "dense":
            dense_instr = r["per_inference"]
        alloc = m.get("allocation")
        if alloc:
            predicted = alloc["allocation"]["predicted_total"]
            m["predicted_instructions"] = predicted
            m["prediction_error"] = round((predicted - r["per_inference"]) / r["per_inference"],
                                          4)
    for name, m in models.items():
        r = m["device"]
        m["speedup_vs_dense"] = round(dense_instr / r["per_inference"], 3)
        m["accuracy_loss_vs_dense_pp"] = round(
            models["dense"]["device"]["device_top1"] - r["device_top1"], 2)
        print(f"{name:<16} {r['per_inference']:>10,.0f} instr  {m['speedup_vs_dense']:5.2f}x  "
              f"device top-1 {r['device_top1']:.2f}%  mismatches {r['mismatch_images']}  "
              f"flash {r['flash']['total']:,} B  peak RAM {r['ram']['peak']:,} B")
    write_json_atomic(out, {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "board": args.board,
        "metric": "instructions retired per inference on QEMU (-icount shift=0), mean over the "
                  "test images; accuracy = on-device int8 top-1 over the test images, every "
                  "output compared with TFLite Micro's (mismatch_images)",
        "selection": "per-layer options chosen on the validation split only (5,000 held-out "
                     "training images); test images used only for these final numbers",
        "finetune": ({"recipe": args.recipe, "fields": get_recipe(args.recipe).to_dict()}
                     if args.recipe else
                     {"epochs": args.finetune_epochs, "lr": args.finetune_lr,
                      "optimizer": "adam, early stopping on validation"}),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "loadavg_before": load_before, "loadavg_after": os.getloadavg()},
        "seconds": round(time.monotonic() - t_start, 1),
        "models": models,
    })
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
