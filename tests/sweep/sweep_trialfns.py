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
