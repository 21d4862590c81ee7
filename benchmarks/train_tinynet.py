"""Benchmark: train TinyNet with the default recipe on MNIST and Fashion-MNIST.

Writes benchmarks/results/train_tinynet.json with test accuracy (model selected on a
held-out validation split, never on test), wall time and training images/s.

    python benchmarks/train_tinynet.py --data-dir ../shared/datasets [--datasets mnist]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from tinydeploy.rundir import git_revision, write_json_atomic
from tinydeploy.train.recipes import recipe_for
from tinydeploy.train.run import train_model

RESULTS = Path(__file__).parent / "results" / "train_tinynet.json"
TARGETS = {"mnist": 99.3, "fashion-mnist": 92.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--datasets", nargs="+", default=list(TARGETS))
    parser.add_argument("--runs", default="runs/bench-train", help="where checkpoints go")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name in args.datasets:
        cfg = recipe_for(name, seed=args.seed)
        start = time.perf_counter()
        outcome = train_model(dataset_name=name, data_dir=args.data_dir, cfg=cfg,
                              out=Path(args.runs) / name, force=True)
        wall = time.perf_counter() - start
        results[name] = {
            "test_top1": round(outcome.test.top1, 2),
            "test_top5": round(outcome.test.top5, 2),
            "final_val_top1": outcome.result.history[-1].val_acc,
            "target_top1": TARGETS.get(name),
            "meets_target": outcome.test.top1 >= TARGETS.get(name, 0.0),
            "epochs": len(outcome.result.history),
            "recipe": cfg.to_dict(),
            "wall_seconds": round(wall, 1),
            "train_images_per_second": round(outcome.result.images_per_second, 1),
            "torch_threads": torch.get_num_threads(),
            "machine": f"{platform.machine()} {torch.get_num_threads()} threads",
            "git_revision": git_revision(),
            "command": f"python benchmarks/train_tinynet.py --datasets {name}",
        }
        print(f"{name}: {outcome.test.top1:.2f}% in {wall:.0f}s")
        write_json_atomic(RESULTS, results)


if __name__ == "__main__":
    main()
