"""Sweep runner scaling: the same 16-trial grid on 1 vs 2 local workers (optionally Ray).

Each trial is `tinydeploy.prune.trials:after_training` on a small TinyNet checkpoint:
prune (4 criteria x 2 scopes x 2 sparsities) + 1-epoch fine-tune on an MNIST slice, one
torch thread per trial. Every configuration runs the full grid in a fresh sweep directory
(nothing is skipped) and must give the same numbers (trials are seeded and thread-pinned).
Writes benchmarks/results/sweep_speedup.json.

    python benchmarks/sweep/workers_speedup.py            # local 1 vs 2 workers
    python benchmarks/sweep/workers_speedup.py --ray      # + a private Ray instance, 2 CPUs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch

from tinydeploy.rundir import cpu_model, git_revision, write_json_atomic
from tinydeploy.sweep import grid, make_executor, run_sweep

RESULTS = Path(__file__).resolve().parents[1] / "results" / "sweep_speedup.json"


def _burn(_: int = 0) -> float:
    t0, total = time.perf_counter(), 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - t0


def _parallel_capacity() -> float:
    """How many cores two CPU-bound processes get right now (2.0 on an idle 2-core machine):
    the ceiling for any 2-worker speed-up, measured because the machine is shared."""
    import concurrent.futures as cf

    one = _burn()
    with cf.ProcessPoolExecutor(2) as pool:
        list(pool.map(_burn, range(2)))  # warm the pool
        t0 = time.perf_counter()
        list(pool.map(_burn, range(2)))
        two = time.perf_counter() - t0
    return round(2 * one / two, 2)


def _checkpoint(work: Path, data_dir: str | None) -> Path:
    from tinydeploy.train.recipes import recipe_for
    from tinydeploy.train.run import train_model

    out = work / "ckpt"
    torch.set_num_threads(1)
    cfg = recipe_for("mnist", epochs=1, train_limit=5000, val_size=1000, seed=0)
    train_model(dataset_name="mnist", data_dir=data_dir, cfg=cfg, out=out, test_limit=1000,
                log=lambda _: None)
    return out


def _strip_timings(value):
    if isinstance(value, dict):
        return {k: _strip_timings(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_strip_timings(v) for v in value]
    return value


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=os.environ.get("TINYDEPLOY_DATA"))
    ap.add_argument("--train-limit", type=int, default=6000, help="fine-tuning images")
    ap.add_argument("--test-limit", type=int, default=2000)
    ap.add_argument("--ray", action="store_true", help="also run on Ray (local, 2 CPUs)")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sweep-speedup-"))
    ckpt = _checkpoint(work, args.data_dir)
    trials = grid("tinydeploy.prune.trials:after_training",
                  {"checkpoint": str(ckpt), "data_dir": args.data_dir, "finetune_epochs": 1,
                   "train_limit": args.train_limit, "test_limit": args.test_limit,
                   "score_samples": 128, "seed": 0},
                  method=["magnitude", "lamp", "random", "snip"], scope=["global", "layerwise"],
                  sparsity=[0.5, 0.9])
    configs = [("local, 1 worker", "local", 1), ("local, 2 workers", "local", 2)]
    if args.ray:
        configs.append(("ray, 2 CPUs (local instance)", "ray", None))
    capacity_before = _parallel_capacity()
    runs, results = [], {}
    for label, kind, workers in configs:
        load_before = os.getloadavg()[0]
        t_setup = time.perf_counter()
        executor = make_executor(kind, workers=workers, ray_cpus=2 if kind == "ray" else None)
        setup = time.perf_counter() - t_setup
        with executor:
            summary = run_sweep(trials, work / kind / str(workers), executor=executor,
                                show_progress=False, description=label)
        assert summary.ok and summary.succeeded == len(trials), summary.line()
        trial_seconds = [summary.records[t.id]["seconds"] for t in trials]
        cpu_seconds = [summary.records[t.id]["cpu_seconds"] for t in trials]
        runs.append({"label": label, "executor": executor.describe(),
                     "wall_seconds": round(summary.seconds, 2),
                     "executor_setup_seconds": round(setup, 2),
                     "mean_trial_seconds": round(sum(trial_seconds) / len(trials), 2),
                     "mean_trial_cpu_seconds": round(sum(cpu_seconds) / len(trials), 2),
                     # share of a core each trial got while it ran (1.0: never waited)
                     "cpu_share": round(sum(cpu_seconds) / sum(trial_seconds), 2),
                     "load_average_before": round(load_before, 2),
                     "load_average_after": round(os.getloadavg()[0], 2)})
        results[label] = [_strip_timings(summary.records[t.id]["result"]) for t in trials]
        print(f"{label}: {summary.seconds:.1f} s wall ({executor.describe()})", flush=True)
    base = runs[0]["wall_seconds"]
    for r in runs:
        r["speedup_vs_1_worker"] = round(base / r["wall_seconds"], 2)
    first = json.dumps(next(iter(results.values())), sort_keys=True)
    identical = all(json.dumps(v, sort_keys=True) == first for v in results.values())
    out = {
        "benchmark": "sweep runner: 16 prune + 1-epoch fine-tune trials, 1 vs 2 workers",
        "trials": len(trials),
        "runs": runs,
        "speedup_2_workers": runs[1]["speedup_vs_1_worker"],
        "results_identical_across_executors": identical,
        "parallel_capacity_before_after": [capacity_before, _parallel_capacity()],
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "threads_per_trial": 1},
        "git_revision": git_revision(),
        "note": "wall time of run_sweep only (checkpoint training excluded); the 2-worker "
                "time includes forking the pool, the Ray one excludes starting the instance "
                "(executor_setup_seconds). The machine is shared: parallel_capacity = 2 x "
                "(one CPU-bound process alone) / (two at once), 2.0 when two cores are free; "
                "cpu_share = trial CPU time / trial wall time (1.0: the trial never waited "
                "for a core); the load averages show the other jobs",
    }
    write_json_atomic(args.out, out)
    print(json.dumps({k: out[k] for k in ("speedup_2_workers",
                                          "results_identical_across_executors")}))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
