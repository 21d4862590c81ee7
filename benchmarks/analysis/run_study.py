"""Sensitivity + cliff study of a checkpoint (issue 4), next to the published study.

    .venv/bin/python benchmarks/analysis/run_study.py \
        --checkpoint runs/bench-train/mnist --name mnist --threads 1

Stages (each resumable: its points are sweep trials under --work/<name>/sweep):
  study       sensitivity scan, cliff (global and layerwise magnitude), sensitivity gap;
              its wall time is the "full sensitivity + cliff study" time
  smart       smart pruning at --smart-sparsity vs uniform (global magnitude) at the same
              sparsity, both with the same retraining budget, and uniform without retraining;
              --push adds smart pruning at higher sparsities
  robustness  FGSM / PGD for sparsity {0, 50, 80, 90}%
  weights     surviving-weight histograms
Writes benchmarks/results/analysis_<name>.json and PNGs under benchmarks/results/analysis/.

Data (issue 14): every scan and selection (sensitivity, cliff, gap, smart allocation, early
stopping) runs on the validation split of the checkpoint's training recipe (--eval-limit: its
first N images); the test set (--test-limit: its first N images) gives the final numbers
only: smart's and the uniform baselines' accuracies under "test", robustness. The JSON says
which split and how many images each number used ("selection_split", "selection_images",
"test_images"); validation numbers are kept under "validation", labelled as such.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import torch

from tinydeploy.analysis import cliff, gap, robustness, sensitivity, smart, weights
from tinydeploy.analysis.context import load_context, run_points
from tinydeploy.analysis.report import write_report
from tinydeploy.rundir import write_json_atomic

ROOT = Path(__file__).resolve().parents[2]
STUDY = {
    "mnist": {"cliff": "collapses between 66 and 67% (above 95% up to 65%)",
              "points": {"0.70": 86.77, "0.80": 56.83}, "most_sensitive_at_70": "fc2",
              "gap_departure": "only at the cliff", "smart_79.3": 98.70,
              "uniform_79.3": 63.22},
    "fashion-mnist": {"cliff": "79.6-85%, single 0.1% steps losing 8+ points",
                      "most_sensitive_at_70": "conv1",
                      "gap_departure": "~25 points before the cliff; ranking flips twice",
                      "smart_79.3": 89.11, "uniform_79.3": 58.88},
}


def _save(out: Path, name: str, mod, data: dict) -> dict:
    paths = write_report(out, mod.KIND, data, mod.markdown(data), mod.plots(data))
    figs = ROOT / "benchmarks" / "results" / "analysis"
    figs.mkdir(parents=True, exist_ok=True)
    for p in paths:
        if p.suffix == ".png":
            shutil.copyfile(p, figs / f"{name}_{p.name}")
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--name", required=True, help="dataset label for the result files")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--work", default="runs/analysis/bench")
    ap.add_argument("--eval-limit", type=int, default=None,
                    help="validation images for scans / selection (default: all)")
    ap.add_argument("--test-limit", type=int, default=None,
                    help="test images for the final numbers (default: all)")
    ap.add_argument("--study", default=None,
                    help="published-study numbers to quote (mnist | fashion-mnist; "
                    "default: --name)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--stages", default="study,smart,robustness,weights")
    ap.add_argument("--smart-sparsity", type=float, default=0.793)
    ap.add_argument("--push", default="", help="extra smart sparsities, e.g. 0.9,0.95,0.97")
    ap.add_argument("--weighting", default="uniform", help="smart allocation: uniform | size")
    ap.add_argument("--layer-epochs", type=int, default=1)
    ap.add_argument("--finetune-epochs", type=int, default=3)
    ap.add_argument("--finetune-lr", type=float, default=1e-4)
    ap.add_argument("--train-limit", type=int, default=20000)
    ap.add_argument("--robust-eval-limit", type=int, default=1000,
                    help="test images attacked by the robustness stage")
    ap.add_argument("--pgd-steps", type=int, default=10)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    stages = set(args.stages.split(","))
    out = ROOT / args.work / args.name
    sweep_dir = out / "sweep"
    result_path = ROOT / "benchmarks" / "results" / f"analysis_{args.name}.json"
    results = json.loads(result_path.read_text()) if result_path.exists() else {}
    ctx = load_context(args.checkpoint, args.data_dir, args.eval_limit,
                       test_limit=args.test_limit)
    results.update({"checkpoint": args.checkpoint, "command": " ".join(sys.argv),
                    "threads": args.threads, "study": STUDY.get(args.study or args.name, {}),
                    "selection_split": "validation", "selection_images": ctx.val.n,
                    "validation_split": ctx.split.to_dict()})
    common = {"sweep_dir": sweep_dir, "data_dir": args.data_dir, "eval_limit": args.eval_limit}
    if "study" in stages:
        t0 = time.perf_counter()
        sens = _save(out, args.name, sensitivity, sensitivity.scan(ctx, **common))
        t1 = time.perf_counter()
        cl = {}
        for scope in ("global", "layerwise"):
            data = cliff.run(ctx, scope=scope, **common)
            cl[scope] = _save(out / f"cliff-{scope}", f"{args.name}_{scope}", cliff, data)
        t2 = time.perf_counter()
        gp = _save(out, args.name, gap, gap.run(ctx, **common))
        t3 = time.perf_counter()
        results["study_wall_seconds"] = {"sensitivity": t1 - t0, "cliff": t2 - t1,
                                         "gap": t3 - t2, "total": t3 - t0}
        results["study_split"] = {"split": "validation", "images": ctx.val.n,
                                  "note": "sensitivity, cliff and gap accuracies are "
                                          "validation top-1"}
        results["sensitivity"] = {"baseline": sens["baseline_accuracy"],
                                  "per_ratio": sens["per_ratio"], "accuracy": sens["accuracy"]}
        results["cliff"] = {s: {k: v for k, v in d.items() if k not in ("points", "provenance")}
                            for s, d in cl.items()}
        results["gap"] = {k: gp[k] for k in ("noise_band", "departure", "first_outside_band",
                                             "flips", "cliff", "lead")}
        results["gap"]["table"] = [{k: r[k] for k in ("sparsity", "uniform_accuracy",
                                                      "layer_accuracy", "gap", "most_sensitive",
                                                      "outside_band")}
                                   for r in gp["checkpoints"]]
        write_json_atomic(result_path, results)
    if "smart" in stages:
        total_epochs = 4 * args.layer_epochs + args.finetune_epochs
        runs = {}
        levels = [args.smart_sparsity, *(sensitivity.parse_grid(args.push) if args.push
                                          else [])]
        for s in levels:
            t0 = time.perf_counter()
            o = smart.smart_prune(checkpoint=args.checkpoint, sparsity=s,
                                  out=out / f"smart-{args.weighting}-{s:g}", force=True,
                                  weighting=args.weighting,
                                  layer_epochs=args.layer_epochs,
                                  finetune_epochs=args.finetune_epochs,
                                  finetune_lr=args.finetune_lr, train_limit=args.train_limit,
                                  eval_limit=args.eval_limit, test_limit=args.test_limit,
                                  data_dir=args.data_dir, sweep_dir=sweep_dir, log=print)
            # the uniform baselines: fixed recipes (nothing selected), reported on test too
            base = cliff.point_params(ctx, method="magnitude", scope="global",
                                      finetune_epochs=total_epochs,
                                      finetune_lr=args.finetune_lr,
                                      train_limit=args.train_limit, seed=0,
                                      data_dir=args.data_dir, eval_limit=args.eval_limit,
                                      test_limit=args.test_limit)
            noft = cliff.point_params(ctx, method="magnitude", scope="global",
                                      finetune_epochs=0, finetune_lr=0.0, train_limit=None,
                                      seed=0, data_dir=args.data_dir,
                                      eval_limit=args.eval_limit, test_limit=args.test_limit)
            pts = [{**p, "sparsity": s, "final_test": True}
                   for p in (base, noft, {**noft, "scope": "layerwise"})]
            uni = run_points("tinydeploy.analysis.cliff:cliff_point", pts, sweep_dir,
                             description="uniform")
            r = o.report
            key = f"{s:g}" if args.weighting == "uniform" else f"{s:g}-{args.weighting}"
            names = ("uniform_global_retrained", "uniform_global_no_retraining",
                     "uniform_layerwise_no_retraining")
            runs[key] = {
                "weighting": args.weighting,
                "target": s, "achieved": r["achieved_sparsity"],
                "selection_split": "validation",
                "selection_images": r["provenance"]["selection_images"],
                "test_images": r["provenance"]["test_images"],
                "test": {"dense": r["dense_test_top1"],
                         "smart_retrained": r["pruned_test_top1"],
                         "smart_allocation_no_retraining": r["before_retraining_test_top1"],
                         **{n: u["test_accuracy"] for n, u in zip(names, uni, strict=True)}},
                "validation": {"dense": r["dense_val_top1"],
                               "smart_retrained": r["pruned_val_top1"],
                               "smart_allocation_no_retraining":
                                   r["before_retraining_val_top1"],
                               **{n: u["accuracy"] for n, u in zip(names, uni, strict=True)}},
                "layer_sparsity": r["layer_sparsity"],
                "threshold": r["steps"][-1]["allocation"]["threshold"],
                "retraining": {"layer_epochs": args.layer_epochs,
                               "finetune_epochs": args.finetune_epochs,
                               "uniform_epochs": total_epochs, "lr": args.finetune_lr,
                               "train_limit": args.train_limit},
                "seconds": time.perf_counter() - t0,
                "command": results["command"]}
            print(json.dumps(runs[key], indent=1))
            results.setdefault("smart", {}).update(runs)
            write_json_atomic(result_path, results)
    if "robustness" in stages:
        rctx = load_context(args.checkpoint, args.data_dir,
                            test_limit=args.robust_eval_limit)
        t0 = time.perf_counter()
        data = robustness.run(rctx, sweep_dir=sweep_dir, sparsities=(0.0, 0.5, 0.8, 0.9),
                              pgd_steps=args.pgd_steps, data_dir=args.data_dir)
        _save(out, args.name, robustness, data)
        results["robustness"] = {"config": data["config"], "variants": data["variants"],
                                 "test_images": data["provenance"]["test_images"],
                                 "seconds": time.perf_counter() - t0}
        write_json_atomic(result_path, results)
    if "weights" in stages:
        data = weights.run(ctx, **common)
        _save(out, args.name, weights, data)
        results["weights"] = {"plot": f"benchmarks/results/analysis/{args.name}_"
                                      "weights_histograms.png"}
        write_json_atomic(result_path, results)
    print(f"wrote {result_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
