"""`--executor/--workers/--ray-address/...` for argparse scripts (the benchmarks), matching
the options of `tinydeploy sweep run`."""

from __future__ import annotations

import argparse
import os

from tinydeploy.sweep.executor import EXECUTORS, Executor, make_executor


def add_executor_args(parser: argparse.ArgumentParser, default_workers: int | None = 0) -> None:
    group = parser.add_argument_group("where trials run")
    group.add_argument("--executor", choices=EXECUTORS, default="local",
                       help="local (default) or ray")
    group.add_argument("--workers", type=int, default=default_workers,
                       help="local: worker processes (0: in-process); ray: trials in flight "
                       "(default: what the cluster's CPUs hold)")
    group.add_argument("--ray-address", default=None,
                       help="ray: auto or host:port of a running cluster (default: "
                       "$RAY_ADDRESS, else a private local instance)")
    group.add_argument("--ray-cpus", type=int, default=None,
                       help="ray: CPUs of the private local instance (default: the cores)")
    group.add_argument("--cpus-per-trial", type=int, default=1,
                       help="CPUs (= torch threads) per trial")
    group.add_argument("--gpus-per-trial", type=float, default=0.0, help="ray: GPUs per trial")


def executor_from_args(args: argparse.Namespace) -> Executor:
    ray = args.executor == "ray"
    return make_executor(
        args.executor,
        workers=args.workers if (args.workers or not ray) else None,
        cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
        ray_address=(args.ray_address or os.environ.get("RAY_ADDRESS") or None) if ray
        else args.ray_address,
        ray_cpus=args.ray_cpus)
