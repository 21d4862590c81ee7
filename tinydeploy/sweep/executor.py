"""Where trials run. An executor turns a trial into a `concurrent.futures.Future` whose result
is the record dict made by `execute_trial` (status, result or error + traceback, timing).
`LocalExecutor` runs in-process or in a process pool; `RayExecutor` (ray_executor.py) runs
trials as Ray tasks. `make_executor` builds either from CLI-style options."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import json
import multiprocessing
import os
import random
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from typing import Any

from tinydeploy.errors import TinydeployError
from tinydeploy.sweep.spec import Trial

EXECUTORS = ("local", "ray")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def trial_seed(trial_id: str) -> int:
    """A seed derived from the trial id only: the same wherever and after whatever it runs."""
    return int(hashlib.sha256(trial_id.encode()).hexdigest()[:8], 16)


@contextlib.contextmanager
def _isolated(trial_id: str, threads: int | None, seed: bool) -> Iterator[None]:
    """Pin the torch thread count and seed the global RNGs for one trial, so its numbers do
    not depend on the executor (process pool vs Ray worker vs in-process) or on the trials
    that ran before it in the same worker. The thread count is restored afterwards (matters
    in-process); torch is only touched when asked."""
    previous = None
    torch = None
    if threads is not None or seed:
        try:
            import torch
        except ImportError:  # trial functions without torch still run
            torch = None
    if torch is not None and threads is not None:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
    if seed:
        value = trial_seed(trial_id)
        random.seed(value)
        if torch is not None:
            torch.manual_seed(value)
        with contextlib.suppress(ImportError):
            import numpy as np

            np.random.seed(value)
    try:
        yield
    finally:
        if torch is not None and previous is not None:
            torch.set_num_threads(previous)


def execute_trial(spec: dict[str, Any], threads: int | None = None,
                  seed: bool = False) -> dict[str, Any]:
    """Run one trial (given as its dict, so it crosses process boundaries) and never raise:
    failures come back as a record with the traceback. `threads`: torch threads for the
    trial (None: leave as is); `seed`: seed python/numpy/torch RNGs from the trial id."""
    trial = Trial.from_dict(spec)
    started, t0, c0 = _now(), time.perf_counter(), time.process_time()
    record: dict[str, Any] = {"id": trial.id, "spec": trial.to_dict(), "started": started,
                              "host": os.uname().nodename, "pid": os.getpid()}
    try:
        with _isolated(trial.id, threads, seed):
            result = trial.resolve()(dict(trial.params))
        json.dumps(result)  # a result must be JSON to be stored
        record.update(status="ok", result=result)
    except BaseException as exc:  # the runner decides about retries; keep the whole story
        if isinstance(exc, KeyboardInterrupt):
            raise
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}",
                      traceback=traceback.format_exc())
    # cpu_seconds / seconds < 1: the trial waited for a core (a busy or oversubscribed node)
    record.update(finished=_now(), seconds=time.perf_counter() - t0,
                  cpu_seconds=time.process_time() - c0)
    return record


class Executor(ABC):
    """Runs trials; `max_parallel` trials may be in flight at once."""

    max_parallel: int = 1
    name: str = "executor"

    @abstractmethod
    def submit(self, trial: Trial) -> cf.Future:
        """Start a trial; the future's result is `execute_trial`'s record."""

    def shutdown(self, interrupted: bool = False) -> None:  # noqa: B027 - optional hook
        """Release workers; `interrupted`: the driver is stopping, abandon running trials
        instead of waiting for them (their results would not be stored anyway)."""

    def describe(self) -> str:
        return self.name

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.shutdown(interrupted=exc_type is not None)


class LocalExecutor(Executor):
    """workers=0: run in this process (one at a time, at submit); workers>=1: a process pool
    (fork start method where available, so workers inherit the imported modules).
    threads/seed: see `execute_trial` (the defaults leave the process state alone)."""

    name = "local"

    def __init__(self, workers: int = 0, *, threads: int | None = None,
                 seed: bool = False) -> None:
        if workers < 0:
            raise TinydeployError(f"workers must be >= 0, got {workers}")
        self.workers = workers
        self.threads = threads
        self.seed = seed
        self.max_parallel = max(1, workers)
        self._pool: cf.ProcessPoolExecutor | None = self._new_pool() if workers > 0 else None

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
        return cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx)

    def submit(self, trial: Trial) -> cf.Future:
        args = (execute_trial, trial.to_dict(), self.threads, self.seed)
        if self._pool is not None:
            try:
                return self._pool.submit(*args)
            except BrokenProcessPool:
                # A worker died (OOM killer, segfault, kill): the trials it broke come back
                # as failures and are retried by the runner on a fresh pool.
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
                return self._pool.submit(*args)
        future: cf.Future = cf.Future()
        future.set_result(execute_trial(trial.to_dict(), self.threads, self.seed))
        return future

    def describe(self) -> str:
        return f"local ({self.workers} workers)" if self.workers else "local (in-process)"

    def shutdown(self, interrupted: bool = False) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if interrupted:
            # Python < 3.14 has no terminate_workers(): without this, shutdown would wait
            # for the running trials, whose results the interrupted runner never stores.
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                with contextlib.suppress(Exception):
                    proc.terminate()
        pool.shutdown(wait=not interrupted, cancel_futures=True)


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def make_executor(
    kind: str = "local",
    *,
    workers: int | None = None,
    cpus_per_trial: int = 1,
    gpus_per_trial: float = 0.0,
    ray_address: str | None = None,
    ray_cpus: int | None = None,
) -> Executor:
    """The executor behind every `--executor` option.

    local: `workers` processes (None: one per core / cpus_per_trial; 0: in-process).
    ray: trials become Ray tasks needing `cpus_per_trial` CPUs (+ `gpus_per_trial` GPUs);
    `ray_address` None starts a private local instance with `ray_cpus` CPUs (default: the
    cores), "auto" or "host:port" connects to a running cluster.

    Either way each trial runs with `cpus_per_trial` torch threads and RNGs seeded from its
    id, so the same trial gives the same numbers whichever executor ran it.
    """
    if cpus_per_trial < 1:
        raise TinydeployError(f"cpus per trial must be >= 1, got {cpus_per_trial}")
    if kind == "local":
        if gpus_per_trial:
            raise TinydeployError("--gpus-per-trial needs --executor ray")
        if ray_address:
            raise TinydeployError("--ray-address needs --executor ray")
        if workers is None:
            workers = max(1, default_workers() // cpus_per_trial)
        return LocalExecutor(workers, threads=cpus_per_trial, seed=True)
    if kind == "ray":
        from tinydeploy.sweep.ray_executor import RayExecutor

        return RayExecutor(address=ray_address, num_cpus=ray_cpus, cpus_per_trial=cpus_per_trial,
                           gpus_per_trial=gpus_per_trial, max_in_flight=workers)
    raise TinydeployError(f"unknown executor {kind!r}; choose one of: {', '.join(EXECUTORS)}")
