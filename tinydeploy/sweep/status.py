"""What a sweep directory holds: finished, failed, running and pending trials, times, errors.
Works while the driver is running (it reads the atomic files the runner writes)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tinydeploy.errors import TinydeployError
from tinydeploy.sweep.runner import STATE_FILE, load_record, load_results


def _driver_alive(state: dict[str, Any]) -> bool | None:
    """True/False for a driver on this host; None when it ran elsewhere (cannot tell)."""
    if state.get("host") != os.uname().nodename:
        return None
    try:
        os.kill(int(state["pid"]), 0)
    except (ProcessLookupError, KeyError, ValueError, TypeError):
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def sweep_status(sweep_dir: str | Path) -> dict[str, Any]:
    sweep_dir = Path(sweep_dir)
    manifest = load_record(sweep_dir / "sweep.json")
    if manifest is None:
        raise TinydeployError(f"{sweep_dir} is not a sweep directory (no sweep.json)")
    specs: dict[str, dict[str, Any]] = manifest.get("trials", {})
    records = {r["id"]: r for r in load_results(sweep_dir) if "id" in r}
    state = load_record(sweep_dir / STATE_FILE) or {}
    alive = _driver_alive(state) if state else False
    live = state.get("status") == "running" and alive is not False
    running = dict(state.get("running", {})) if live else {}
    rows = []
    for tid in sorted(set(specs) | set(records)):
        rec = records.get(tid)
        status = rec.get("status", "?") if rec else ("running" if tid in running else "pending")
        if rec and tid in running:
            status = "running"  # a failed trial being retried in this run
        spec = (rec or {}).get("spec") or specs.get(tid, {})
        rows.append({"id": tid, "status": status, "params": spec.get("params", {}),
                     "seconds": (rec or {}).get("seconds"), "attempts": (rec or {}).get("attempts"),
                     "result": (rec or {}).get("result") if status == "ok" else None,
                     "error": (rec or {}).get("error") if status == "failed" else None,
                     "started": running.get(tid)})
    counts = {k: sum(r["status"] == k for r in rows) for k in ("ok", "failed", "running",
                                                                "pending")}
    times = [r["seconds"] for r in rows if r["status"] in ("ok", "failed") and r["seconds"]]
    driver = None
    if state:
        driver = {k: state.get(k) for k in ("status", "pid", "host", "executor", "started",
                                            "updated")}
        if state.get("status") == "running" and alive is False:
            driver["status"] = "stopped (driver gone)"
    return {"dir": str(sweep_dir), "total": len(rows), "counts": counts, "driver": driver,
            "trial_seconds_total": sum(times), "trial_seconds_mean":
            sum(times) / len(times) if times else None, "rows": rows}


def varying_params(rows: list[dict[str, Any]]) -> list[str]:
    """Parameter names whose value differs between trials (the grid's axes)."""
    keys = sorted({k for r in rows for k in r["params"]})
    return [k for k in keys if len({repr(r["params"].get(k)) for r in rows}) > 1]
