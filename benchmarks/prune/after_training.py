"""Benchmark A: prune a trained MNIST TinyNet, fine-tune with masks, report accuracy.

Grid: criteria x scopes x sparsities (unstructured) plus optional N:M granularities, each a
trial of `tinydeploy.prune.trials:after_training` run through the resumable sweep runner
(results in <sweep-dir>/trials/<id>.json; re-running skips finished trials). Summary JSON:
benchmarks/results/prune_after_training.json.

    # headline subset (global magnitude + LAMP at 90%, N:M 2:4 on all layers)
    python benchmarks/prune/after_training.py --headline
    # full grid (hours on 2 cores)
    python benchmarks/prune/after_training.py --criteria random magnitude gradient activation \
        lap lamp snip grasp synflow obd --scopes global layerwise \
        --sparsities 0.5 0.8 0.9 0.95 0.98
    # on Ray (a private local instance, or --ray-address host:port for a cluster)
    python benchmarks/prune/after_training.py --headline --executor ray
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
from pathlib import Path

import torch

from tinydeploy.checkpoint import fingerprint
from tinydeploy.rundir import git_revision, write_json_atomic
from tinydeploy.sweep import Trial, run_sweep
from tinydeploy.sweep.cli_args import add_executor_args, executor_from_args

RESULTS = Path(__file__).resolve().parents[1] / "results" / "prune_after_training.json"
FN = "tinydeploy.prune.trials:after_training"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="runs/bench-train/mnist")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--criteria", nargs="*", default=["magnitude", "lamp"])
    ap.add_argument("--scopes", nargs="*", default=["global"])
    ap.add_argument("--sparsities", nargs="*", type=float, default=[0.9])
    ap.add_argument("--nm", nargs="*", default=[], help="N:M patterns, e.g. 2:4")
    ap.add_argument("--nm-method", default="magnitude")
    ap.add_argument("--schedule", default="oneshot")
    ap.add_argument("--headline", action="store_true",
                    help="magnitude + lamp, global, 90%% and N:M 2:4 (magnitude)")
    ap.add_argument("--finetune-epochs", type=int, default=10)
    ap.add_argument("--finetune-lr", type=float, default=1e-4)
    ap.add_argument("--train-limit", type=int, default=None)
    ap.add_argument("--test-limit", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--retries", type=int, default=1)
    add_executor_args(ap)
    ap.add_argument("--sweep-dir", default="runs/sweeps/prune-after-training")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    if args.headline:
        args.criteria, args.scopes, args.sparsities = ["magnitude", "lamp"], ["global"], [0.9]
        args.nm = args.nm or ["2:4"]
    # the checkpoint's content hash enters every trial id: retraining it invalidates old trials
    common = {"checkpoint": args.checkpoint,
              "checkpoint_sha256": fingerprint(args.checkpoint), "data_dir": args.data_dir,
              "finetune_epochs": args.finetune_epochs, "train_limit": args.train_limit,
              "test_limit": args.test_limit, "seed": args.seed, "schedule": args.schedule}
    if args.finetune_lr != 1e-4:  # only non-default values enter the spec (stable trial ids)
        common["finetune_lr"] = args.finetune_lr
    trials = [Trial(FN, {**common, "method": c, "scope": s, "sparsity": sp,
                         "granularity": "unstructured"})
              for c in args.criteria for s in args.scopes for sp in args.sparsities]
    trials += [Trial(FN, {**common, "method": args.nm_method, "scope": "layerwise",
                          "granularity": f"nm:{p}"}) for p in args.nm]
    with executor_from_args(args) as ex:
        summary = run_sweep(trials, args.sweep_dir, executor=ex, retries=args.retries,
                            log=print, description="prune A")
    rows = []
    for t in trials:
        rec = summary.records.get(t.id, {})
        rows.append({"id": t.id, "params": t.to_dict()["params"], "status": rec.get("status"),
                     "result": {k: v for k, v in (rec.get("result") or {}).items()
                                if k != "rounds"},
                     "error": rec.get("error")})
    dense = next((r["result"]["dense_top1"] for r in rows if r["result"]), None)
    checks = {}
    for r in rows:
        p, res = r["params"], r["result"]
        if not res:
            continue
        if p["granularity"] == "unstructured" and p["sparsity"] == 0.9 and \
                p["scope"] == "global" and p["method"] in ("magnitude", "lamp"):
            checks[f"{p['method']} global 90% >= 99.0"] = res["test_top1"] >= 99.0
        if p["granularity"] == "nm:2:4":
            checks["nm 2:4 within 0.3 of dense"] = res["test_top1"] >= res["dense_top1"] - 0.3
    out = {
        "benchmark": "A: prune after training + fine-tune (MNIST TinyNet)",
        "dense_test_top1": dense,
        "checks": checks,
        "rows": rows,
        "summary": summary.line(),
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "machine": f"{platform.machine()} torch {torch.__version__} "
                   f"{torch.get_num_threads()} threads",
        "git_revision": git_revision(),
        "note": f"fine-tune: Adam lr {args.finetune_lr:g} wd 1e-4, early stopping (patience 3, "
                "best epoch restored) on the 5000-image validation split; the test set is only "
                "used for the final numbers",
    }
    write_json_atomic(args.out, out)
    print(summary.line())
    print(json.dumps(checks, indent=1))
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
