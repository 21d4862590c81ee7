"""Benchmark B: foresight pruning (prune at initialization, then train) on MNIST TinyNet.

SNIP / GraSP / SynFlow / LAMP / random at compression ratios 2..64 (global scope), with the
compression error (achieved n / n_nonzero vs requested), through the resumable sweep
runner. Summary JSON: benchmarks/results/prune_foresight.json.

    python benchmarks/prune/foresight.py                     # full: 5 methods x 6 ratios
    python benchmarks/prune/foresight.py --methods snip synflow random --compressions 8 64 \
        --train-epochs 3 --train-limit 20000
    python benchmarks/prune/foresight.py --executor local --workers 2   # or --executor ray
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
from pathlib import Path

import torch

from tinydeploy.prune.criteria import get_criterion
from tinydeploy.rundir import git_revision, write_json_atomic
from tinydeploy.sweep import Trial, run_sweep
from tinydeploy.sweep.cli_args import add_executor_args, executor_from_args

RESULTS = Path(__file__).resolve().parents[1] / "results" / "prune_foresight.json"
FN = "tinydeploy.prune.trials:foresight"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--methods", nargs="*", default=["snip", "grasp", "synflow", "lamp", "random"])
    ap.add_argument("--compressions", nargs="*", type=float, default=[2, 4, 8, 16, 32, 64])
    ap.add_argument("--train-epochs", type=int, default=20)
    ap.add_argument("--train-limit", type=int, default=None)
    ap.add_argument("--test-limit", type=int, default=None)
    ap.add_argument("--synflow-rounds", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--retries", type=int, default=1)
    add_executor_args(ap)
    ap.add_argument("--sweep-dir", default="runs/sweeps/prune-foresight")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    common = {"dataset": args.dataset, "data_dir": args.data_dir, "seed": args.seed,
              "train_epochs": args.train_epochs, "train_limit": args.train_limit,
              "test_limit": args.test_limit, "scope": "global"}
    trials = [Trial(FN, {**common, "method": m, "compression": c,
                         **({"rounds": args.synflow_rounds} if m == "synflow" else {})})
              for m in args.methods for c in args.compressions]
    with executor_from_args(args) as ex:
        summary = run_sweep(trials, args.sweep_dir, executor=ex, retries=args.retries,
                            log=print, description="prune B")
    rows = []
    for t in trials:
        rec = summary.records.get(t.id, {})
        res = rec.get("result") or {}
        rows.append({"id": t.id, "params": t.to_dict()["params"], "status": rec.get("status"),
                     "test_top1": res.get("test_top1"), "test_top5": res.get("test_top5"),
                     "requested_compression": res.get("requested_compression"),
                     "achieved_compression": res.get("achieved_compression"),
                     "compression_error": res.get("compression_error"),
                     "layers": res.get("layers"), "warnings": res.get("warnings"),
                     "error": rec.get("error")})
    write_json_atomic(args.out, {
        "benchmark": "B: foresight pruning (at init, then train), MNIST TinyNet",
        "rows": rows,
        "summary": summary.line(),
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "machine": f"{platform.machine()} torch {torch.__version__} "
                   f"{torch.get_num_threads()} threads",
        "git_revision": git_revision(),
        # the trials take no criterion options: GraSP runs at its default temperature
        "grasp_temperature": get_criterion("grasp").temperature if "grasp" in args.methods
        else None,
        "note": "training recipe of the dataset (AdamW one-cycle) for --train-epochs epochs; "
                "compression error = achieved / requested - 1 over prunable weights",
    })
    print(summary.line())
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
