"""The sweep loop: resume, bounded retries, atomic per-trial results, a progress bar.

Layout of a sweep directory (it may live on shared storage; every write is atomic):
  sweep.json          every trial ever run there (id -> spec)
  trials/<id>.json    one record per finished trial: status ok (result) or failed (error,
                      traceback), attempts, timing, host
  state.json          the driver's live state: pid, host, executor, running trials, counts;
                      `tinydeploy sweep status` reads it
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinydeploy.errors import TinydeployError
from tinydeploy.progress import progress_bar
from tinydeploy.rundir import write_json_atomic
from tinydeploy.sweep.executor import Executor, LocalExecutor, _now
from tinydeploy.sweep.spec import Trial

TRIALS_DIR = "trials"
STATE_FILE = "state.json"


@dataclass
class SweepSummary:
    total: int
    skipped: int = 0  # already done before this run
    succeeded: int = 0  # done in this run
    failed: list[str] = field(default_factory=list)  # ids that exhausted their retries
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> record
    seconds: float = 0.0  # wall time of this run

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def line(self) -> str:
        return (f"{self.total} trials: {self.skipped} already done, {self.succeeded} run, "
                f"{len(self.failed)} failed")


def trial_path(sweep_dir: Path, trial: Trial) -> Path:
    return Path(sweep_dir) / TRIALS_DIR / f"{trial.id}.json"


def load_record(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def load_results(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """Every trial record in the sweep directory (any status)."""
    folder = Path(sweep_dir) / TRIALS_DIR
    records = (load_record(p) for p in sorted(folder.glob("*.json")))
    return [r for r in records if r is not None]


_default_executor: ContextVar[Executor | None] = ContextVar("sweep_executor", default=None)


@contextmanager
def use_executor(executor: Executor) -> Iterator[Executor]:
    """Make `executor` the one `run_sweep(executor=None)` uses inside the block: a command
    can send every sweep of a library call (e.g. an analysis running several scans) to Ray
    without threading an executor through each function. The caller owns its shutdown."""
    token = _default_executor.set(executor)
    try:
        yield executor
    finally:
        _default_executor.reset(token)


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA ?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"ETA {hours}:{minutes:02d}:{secs:02d}"


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler or `kill` stopping the driver) takes the same clean path as
    Ctrl-C: running trials are abandoned, finished ones are already on disk."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_sweep(
    trials: Iterable[Trial],
    sweep_dir: str | Path,
    *,
    executor: Executor | None = None,
    retries: int = 1,
    retry_failed: bool = True,
    show_progress: bool = True,
    log: Callable[[str], None] | None = None,
    description: str = "sweep",
) -> SweepSummary:
    """Run every trial not already done; a trial is attempted at most 1 + `retries` times.

    executor None: the one set by `use_executor`, else in-process (`LocalExecutor()`).

    Completed results are never recomputed. With `retry_failed` (default) trials recorded as
    failed by an earlier run are attempted again; otherwise they are skipped too.
    """
    if retries < 0:
        raise TinydeployError("retries must be >= 0")
    sweep_dir = Path(sweep_dir)
    unique: dict[str, Trial] = {}
    for t in trials:
        unique.setdefault(t.id, t)
    summary = SweepSummary(total=len(unique))
    pending: list[Trial] = []
    for tid, trial in unique.items():
        record = load_record(trial_path(sweep_dir, trial))
        if record is not None and (record.get("status") == "ok" or not retry_failed):
            summary.skipped += 1
            summary.records[tid] = record
            if record.get("status") != "ok":
                summary.failed.append(tid)
        else:
            pending.append(trial)
    manifest = load_record(sweep_dir / "sweep.json") or {}
    known = {**manifest.get("trials", {}), **{tid: t.to_dict() for tid, t in unique.items()}}
    write_json_atomic(sweep_dir / "sweep.json", {
        "trials": known,  # every trial ever run in this directory
        "spec_hash_of": "sha256(canonical JSON of {fn, params})[:12]",
    })
    executor = executor or _default_executor.get()
    own_executor = executor is None
    executor = executor or LocalExecutor()
    attempts = dict.fromkeys((t.id for t in pending), 0)
    # eta=False: this run's ETA goes into the status field; rich's own estimate would count
    # the trials skipped at start-up as instant progress
    progress = progress_bar(eta=False) if show_progress else None
    task = None
    running: dict[cf.Future, Trial] = {}
    submitting: dict[str, Trial] = {}
    started_at: dict[str, str] = {}
    queue = list(pending)
    n_failed = 0
    t0 = time.perf_counter()
    state = {"pid": os.getpid(), "host": os.uname().nodename, "executor": executor.describe(),
             "description": description, "started": _now(), "total": summary.total,
             "skipped": summary.skipped, "status": "running"}

    def write_state(**extra: Any) -> None:
        write_json_atomic(sweep_dir / STATE_FILE, {
            **state, **extra, "updated": _now(), "succeeded": summary.succeeded,
            "failed": n_failed, "running": {tid: started_at.get(tid) for tid in
                                            [*(t.id for t in running.values()), *submitting]},
            "seconds": time.perf_counter() - t0})

    def eta() -> float | None:
        finished = summary.succeeded + n_failed
        remaining = len(queue) + len(running) + len(submitting)
        if not remaining:
            return 0.0
        return None if not finished else (time.perf_counter() - t0) / finished * remaining

    def update() -> None:
        write_state()
        if progress is not None and task is not None:
            progress.update(task, completed=summary.skipped + summary.succeeded + n_failed,
                            status=f"done {summary.skipped + summary.succeeded} running "
                                   f"{len(running) + len(submitting)} failed {n_failed} "
                                   f"{_eta(eta())}")

    def start(trial: Trial) -> None:
        attempts[trial.id] += 1
        started_at[trial.id] = _now()
        # Shown as running while submit() runs: the in-process executor runs the whole
        # trial inside submit().
        submitting[trial.id] = trial
        update()
        future = executor.submit(trial)
        del submitting[trial.id]
        running[future] = trial
        update()

    interrupted = False
    try:
        with _sigterm_as_interrupt():
            if progress is not None:
                progress.start()
                task = progress.add_task(description, total=summary.total, status="")
            update()
            while queue or running:
                while queue and len(running) < executor.max_parallel:
                    start(queue.pop(0))
                done, _ = cf.wait(list(running), return_when=cf.FIRST_COMPLETED)
                for future in done:
                    trial = running.pop(future)
                    try:
                        record = future.result()
                    except Exception as exc:  # the worker itself died (e.g. killed process)
                        record = {"id": trial.id, "spec": trial.to_dict(), "status": "failed",
                                  "error": f"executor: {type(exc).__name__}: {exc}",
                                  "traceback": None}
                    record["attempts"] = attempts[trial.id]
                    if record["status"] != "ok" and attempts[trial.id] <= retries:
                        if log:
                            log(f"trial {trial.id} failed ({record['error']}); retrying")
                        start(trial)
                        continue
                    write_json_atomic(trial_path(sweep_dir, trial), record)
                    summary.records[trial.id] = record
                    if record["status"] == "ok":
                        summary.succeeded += 1
                    else:
                        n_failed += 1
                        summary.failed.append(trial.id)
                        if log:
                            log(f"trial {trial.id} failed after {attempts[trial.id]} attempts: "
                                f"{record['error']}")
                    update()
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        summary.seconds = time.perf_counter() - t0
        if progress is not None:
            progress.stop()
        if own_executor or interrupted:
            executor.shutdown(interrupted=interrupted)
        # After shutdown: an interrupted run leaves nothing running.
        running.clear()
        submitting.clear()
        write_state(status="interrupted" if interrupted else "finished")
    return summary
