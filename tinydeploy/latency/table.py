"""Measured cost tables: instructions per layer x format x sparsity on one QEMU core.

`build_table` measures every missing point through the sweep runner (cached under
$XDG_CACHE_HOME/tinydeploy/latency/<board>, or a folder you give), and `CostTable.predict`
answers from the points of the same shape and format only: exact at a measured sparsity,
linear between the two measured sparsities around it, and an error outside the measured
range (never extrapolated, never borrowed from another shape).
"""

from __future__ import annotations

import bisect
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinydeploy.errors import TinydeployError
from tinydeploy.latency.measure import fingerprint
from tinydeploy.latency.shapes import LayerShape
from tinydeploy.latency.sparsify import format_sparsity
from tinydeploy.sweep import Executor, Trial, run_sweep

TRIAL_FN = "tinydeploy.latency.measure:measure_point"
SPARSITIES = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)
NM_FORMATS = ("nm2_4", "nm1_4", "nm2_8", "nm1_8", "nm1_16")


def default_cache_dir(board: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tinydeploy" / "latency" / board


def formats_for(shape: LayerShape) -> list[str]:
    """The formats the kernels run for a layer of this shape (csrd: wide FC layers only)."""
    out = ["dense", "csr"]
    if shape.op == "fc" and shape.k > 256:
        out.append("csrd")
    return [*out, *NM_FORMATS]


def _points(fmt: str, sparsities: Iterable[float]) -> list[float]:
    if fmt == "dense" or fmt.startswith("nm"):
        return [format_sparsity(fmt, 0.0)]
    return sorted(set(sparsities))


@dataclass
class CostTable:
    """Measured instructions, keyed by (shape, format) -> sorted [(sparsity, instructions)]."""

    board: str
    unit: str = "instructions"
    points: dict[tuple[LayerShape, str], list[tuple[float, float]]] = field(
        default_factory=dict)

    def add(self, shape: LayerShape, fmt: str, sparsity: float, value: float) -> None:
        row = self.points.setdefault((shape, fmt), [])
        row.append((sparsity, value))
        row.sort()

    def predict(self, shape: LayerShape, fmt: str, sparsity: float = 0.0) -> float:
        """Instructions of `shape` in `fmt` at `sparsity` (see the module docstring)."""
        row = self.points.get((shape, fmt))
        if not row:
            raise TinydeployError(f"no measured points for {shape.label()} in {fmt} on "
                                  f"{self.board}")
        if len(row) == 1:  # dense and N:M: one measured point, cost independent of values
            return row[0][1]
        xs = [s for s, _ in row]
        if not xs[0] - 1e-9 <= sparsity <= xs[-1] + 1e-9:
            raise TinydeployError(
                f"{shape.label()} in {fmt}: sparsity {sparsity:.4f} is outside the measured "
                f"range {xs[0]}..{xs[-1]}; measure it (--sparsities) rather than extrapolate")
        i = min(max(bisect.bisect_left(xs, sparsity), 1), len(xs) - 1)
        (s0, v0), (s1, v1) = row[i - 1], row[i]
        return v0 + (v1 - v0) * (sparsity - s0) / (s1 - s0)

    def to_json(self) -> dict[str, Any]:
        return {"board": self.board, "unit": self.unit, "points": [
            {"shape": shape.key(), "label": shape.label(), "format": fmt,
             "measured": [{"sparsity": s, "instructions": v} for s, v in row]}
            for (shape, fmt), row in sorted(self.points.items(),
                                            key=lambda kv: (kv[0][0].label(), kv[0][1]))]}


def plan_trials(shapes: Iterable[LayerShape], board: str, *, formats: Iterable[str] | None = None,
                sparsities: Iterable[float] = SPARSITIES, opt: str = "O2") -> list[Trial]:
    """One trial per point; a trial's id is the content hash of the point."""
    fp = fingerprint(opt)
    wanted = list(formats) if formats is not None else None
    trials = []
    for shape in dict.fromkeys(shapes):
        for fmt in formats_for(shape):
            if wanted is not None and fmt not in wanted:
                continue
            for s in _points(fmt, sparsities):
                trials.append(Trial(TRIAL_FN, {"shape": shape.key(), "format": fmt,
                                               "sparsity": s, "board": board, "opt": opt,
                                               "fingerprint": fp}))
    return trials


def build_table(shapes: Iterable[LayerShape], board: str, *, formats: Iterable[str] | None = None,
                sparsities: Iterable[float] = SPARSITIES, opt: str = "O2",
                cache_dir: Path | None = None, executor: Executor | None = None,
                show_progress: bool = True) -> CostTable:
    """Measure what is not cached yet and return the table of every requested point."""
    trials = plan_trials(shapes, board, formats=formats, sparsities=sparsities, opt=opt)
    summary = run_sweep(trials, cache_dir or default_cache_dir(board), executor=executor,
                        show_progress=show_progress, description=f"cost table {board}")
    if not summary.ok:
        first = summary.records[summary.failed[0]]
        raise TinydeployError(f"{len(summary.failed)} cost point(s) failed to measure; first: "
                              f"{first.get('error', '?')}")
    table = CostTable(board)
    for trial in trials:
        result = summary.records[trial.id]["result"]
        p = trial.params
        table.unit = result["unit"]
        table.add(LayerShape.from_key(dict(p["shape"])), p["format"], float(p["sparsity"]),
                  float(result["instructions"]))
    return table


def predict_layers(table: CostTable, shapes: Mapping[str, LayerShape],
                   assignment: Mapping[str, tuple[str, float]]) -> dict[str, float]:
    """Predicted instructions of each layer for {layer: (format, sparsity)}."""
    return {name: table.predict(shapes[name], fmt, s) for name, (fmt, s) in assignment.items()}


def write_table(table: CostTable, path: Path) -> None:
    from tinydeploy.rundir import write_text_atomic

    write_text_atomic(path, json.dumps(table.to_json(), indent=1) + "\n")
