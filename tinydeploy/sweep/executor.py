"""Where trials run. An executor turns a trial into a `concurrent.futures.Future` whose result
is the record dict made by `execute_trial` (status, result or error + traceback, timing);
a Ray executor would wrap `ray.remote(execute_trial)` and return `ref.future()`."""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import time
import traceback
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from typing import Any

from tinydeploy.sweep.spec import Trial


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def execute_trial(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one trial (given as its dict, so it crosses process boundaries) and never raise:
    failures come back as a record with the traceback."""
    trial = Trial.from_dict(spec)
    started, t0 = _now(), time.perf_counter()
    record: dict[str, Any] = {"id": trial.id, "spec": trial.to_dict(), "started": started}
    try:
        result = trial.resolve()(dict(trial.params))
        json.dumps(result)  # a result must be JSON to be stored
        record.update(status="ok", result=result)
    except BaseException as exc:  # the runner decides about retries; keep the whole story
        if isinstance(exc, KeyboardInterrupt):
            raise
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}",
                      traceback=traceback.format_exc())
    record.update(finished=_now(), seconds=time.perf_counter() - t0)
    return record


class Executor(ABC):
    """Runs trials; `max_parallel` trials may be in flight at once."""

    max_parallel: int = 1

    @abstractmethod
    def submit(self, trial: Trial) -> cf.Future:
        """Start a trial; the future's result is `execute_trial`'s record."""

    def shutdown(self) -> None:  # noqa: B027 - optional hook
        """Release workers."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()


class LocalExecutor(Executor):
    """workers=0: run in this process (one at a time, at submit); workers>=1: a process pool
    (fork start method where available, so workers inherit the imported modules)."""

    def __init__(self, workers: int = 0) -> None:
        self.workers = workers
        self.max_parallel = max(1, workers)
        self._pool: cf.ProcessPoolExecutor | None = None
        if workers > 0:
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
            self._pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx)

    def submit(self, trial: Trial) -> cf.Future:
        if self._pool is not None:
            return self._pool.submit(execute_trial, trial.to_dict())
        future: cf.Future = cf.Future()
        future.set_result(execute_trial(trial.to_dict()))
        return future

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
