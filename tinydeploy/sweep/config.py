"""Sweep configs: a TOML file describing a grid of trials.

    fn = "tinydeploy.prune.trials:after_training"   # required: package.module:function
    dir = "runs/sweeps/prune-a"    # sweep directory (default runs/sweeps/<config name>)
    description = "prune A"        # progress-bar label (default: the config name)
    retries = 1                    # extra attempts for a trial that raised (default 1)
    cpus_per_trial = 1             # CPUs (= torch threads) per trial (default 1)
    gpus_per_trial = 0             # GPUs per trial, Ray only (default 0)

    [fixed]                        # parameters shared by every trial
    checkpoint = "runs/bench-train/mnist"
    finetune_epochs = 1

    [grid]                         # axes: every combination is one trial
    method = ["magnitude", "lamp"]
    sparsity = [0.5, 0.9]

    [[extra]]                      # optional single points (fixed + these keys)
    method = "magnitude"
    granularity = "nm:2:4"

Relative paths (dir, and paths inside parameters) are relative to the working directory of
the command. A trial's id is the hash of {fn, params}: editing the config adds new trials and
keeps the finished ones.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tinydeploy.errors import TinydeployError
from tinydeploy.sweep.spec import Trial
from tinydeploy.tomlfile import read_toml

KEYS = ("fn", "dir", "description", "retries", "cpus_per_trial", "gpus_per_trial", "fixed",
        "grid", "extra")


@dataclass(frozen=True)
class SweepConfig:
    fn: str
    dir: Path
    description: str
    retries: int = 1
    cpus_per_trial: int = 1
    gpus_per_trial: float = 0.0
    fixed: Mapping[str, Any] | None = None
    grid: Mapping[str, Sequence[Any]] | None = None
    extra: Sequence[Mapping[str, Any]] = ()

    def trials(self) -> list[Trial]:
        """The grid's cartesian product, then the extra points (duplicates dropped)."""
        fixed, axes = dict(self.fixed or {}), dict(self.grid or {})
        names = list(axes)
        trials = [Trial(self.fn, {**fixed, **dict(zip(names, values, strict=True))})
                  for values in itertools.product(*(axes[n] for n in names))] if axes else []
        trials += [Trial(self.fn, {**fixed, **point}) for point in self.extra]
        return list({t.id: t for t in trials}.values())

    def with_overrides(self, sets: Sequence[str] = (), axes: Sequence[str] = ()) -> SweepConfig:
        """`--set key=value` (a fixed parameter) and `--grid key=v1,v2` (an axis) from the
        command line; values are JSON when they parse as JSON, else strings."""
        fixed, axes_now = dict(self.fixed or {}), dict(self.grid or {})
        for item in sets:
            key, value = _split(item, "--set")
            axes_now.pop(key, None)
            fixed[key] = _value(value)
        for item in axes:
            key, value = _split(item, "--grid")
            fixed.pop(key, None)
            axes_now[key] = [_value(v) for v in value.split(",") if v.strip()]
        return _validated(replace(self, fixed=fixed, grid=axes_now), "the command line")


def _split(item: str, option: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise TinydeployError(f"{option} wants key=value, got {item!r}")
    return key.strip(), value.strip()


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _validated(cfg: SweepConfig, where: str) -> SweepConfig:
    axes = dict(cfg.grid or {})
    for key, values in axes.items():
        if not isinstance(values, list):
            raise TinydeployError(f"grid axis {key!r} in {where} must be a list, got {values!r}")
        if not values:
            raise TinydeployError(f"grid axis {key!r} in {where} is empty")
    both = sorted(set(axes) & set(cfg.fixed or {}))
    if both:
        raise TinydeployError(f"{', '.join(both)} in both [fixed] and [grid] of {where}")
    if not axes and not cfg.extra:
        raise TinydeployError(f"no trials in {where}: give [grid] axes and/or [[extra]] points")
    if not isinstance(cfg.retries, int) or cfg.retries < 0:
        raise TinydeployError(f"retries in {where} must be an integer >= 0")
    if not isinstance(cfg.cpus_per_trial, int) or cfg.cpus_per_trial < 1:
        raise TinydeployError(f"cpus_per_trial in {where} must be an integer >= 1")
    if not isinstance(cfg.gpus_per_trial, int | float) or cfg.gpus_per_trial < 0:
        raise TinydeployError(f"gpus_per_trial in {where} must be a number >= 0")
    return cfg


def parse_config(data: Mapping[str, Any], name: str = "config",
                 where: str = "the config") -> SweepConfig:
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise TinydeployError(f"unknown key(s) {', '.join(map(repr, unknown))} in {where}; "
                              f"allowed: {', '.join(KEYS)}")
    if not isinstance(data.get("fn"), str):
        raise TinydeployError(f"{where} needs fn = \"package.module:function\"")
    for table in ("fixed", "grid"):
        if not isinstance(data.get(table, {}), dict):
            raise TinydeployError(f"[{table}] in {where} must be a table")
    extra = data.get("extra", [])
    if not isinstance(extra, list) or not all(isinstance(p, dict) for p in extra):
        raise TinydeployError(f"extra in {where} must be an array of tables ([[extra]])")
    cfg = SweepConfig(
        fn=data["fn"], dir=Path(data.get("dir", f"runs/sweeps/{name}")),
        description=str(data.get("description", name)), retries=data.get("retries", 1),
        cpus_per_trial=data.get("cpus_per_trial", 1),
        gpus_per_trial=data.get("gpus_per_trial", 0.0), fixed=data.get("fixed", {}),
        grid=data.get("grid", {}), extra=tuple(extra))
    cfg = _validated(cfg, where)
    Trial(cfg.fn).resolve()  # a bad function path fails now, not in every trial
    return cfg


def load_config(path: str | Path) -> SweepConfig:
    path = Path(path)
    return parse_config(read_toml(path, "sweep config"), name=path.stem, where=str(path))
