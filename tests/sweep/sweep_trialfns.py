"""Trial functions for the sweep runner tests (importable by name)."""

from __future__ import annotations

from pathlib import Path


def _count(params: dict) -> int:
    log = Path(params["log"])
    with log.open("a") as f:
        f.write(f"{params.get('x')}\n")
    return len(log.read_text().splitlines())


def square(params: dict) -> dict:
    _count(params)
    return {"y": params["x"] ** 2}


def always_fails(params: dict) -> dict:
    _count(params)
    raise ValueError(f"bad x {params['x']}")


def fails_first_time(params: dict) -> dict:
    if _count(params) == 1:
        raise RuntimeError("transient")
    return {"ok": True}


def slow_square(params: dict) -> dict:
    """Logs its start, then takes `sleep` seconds (long enough to be interrupted)."""
    import time

    _count(params)
    time.sleep(float(params.get("sleep", 0.5)))
    return {"y": params["x"] ** 2}


def dies_first_time(params: dict) -> dict:
    """The worker process dies (no exception, no cleanup) the first time: a crashed node."""
    import os

    marker = Path(params["marker"])
    if not marker.exists():
        marker.write_text("died once\n")
        os._exit(3)
    return {"survived": True}


def rng_draws(params: dict) -> dict:
    """Unseeded draws: equal across executors only if the executor seeds each trial."""
    import random

    import torch

    return {"py": random.random(), "torch": torch.rand(3).tolist(),
            "threads": torch.get_num_threads()}


def fails_for_seven(params: dict) -> dict:
    if params["x"] == 7:
        return always_fails(params)
    return square(params)


def status_probe(params: dict) -> dict:
    """What `tinydeploy sweep status` reports while this very trial runs."""
    from tinydeploy.sweep.status import sweep_status

    st = sweep_status(params["dir"])
    return {"counts": st["counts"], "driver": st["driver"]["status"],
            "running": [r["params"].get("k") for r in st["rows"] if r["status"] == "running"]}
