"""Measured cost tables: instructions per layer x format x sparsity on one QEMU core.

`build_table` measures every missing point through the sweep runner (cached under
$XDG_CACHE_HOME/tinydeploy/latency/<board>, or a folder you give; layers with the same
shape and parameters share their points), and `CostTable.predict` answers for one layer
from that layer's own points: exact at a measured sparsity, linear between the two measured
sparsities around it, and an error outside the measured range (never extrapolated, never
borrowed from another shape).
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
from tinydeploy.latency.measure import fingerprint, save_params
from tinydeploy.latency.shapes import LayerShape
from tinydeploy.latency.sparsify import format_sparsity
from tinydeploy.sweep import Executor, Trial, run_sweep

TRIAL_FN = "tinydeploy.latency.measure:measure_point"
SPARSITIES = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)
NM_FORMATS = ("nm2_4", "nm1_4", "nm2_8", "nm1_8", "nm1_16")
# bumped when a point's result gains fields (3: weight bytes, kernel code, stack), so
# points cached by an older version are measured again rather than read without them
POINT_SCHEMA = 3


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
    """Measured instructions, (layer, format) -> sorted [(sparsity, instructions)]."""

    board: str
    unit: str = "instructions"
    shapes: dict[str, LayerShape] = field(default_factory=dict)
    points: dict[tuple[str, str], list[tuple[float, float]]] = field(default_factory=dict)
    measured_with: dict[str, str] = field(default_factory=dict)  # layer -> real | synthetic
    # flash of the same points: weight bytes (sorted like `points`) and the tdnn functions
    # the layer's firmware linked (name -> bytes), for budgets on flash
    weight_bytes: dict[tuple[str, str], list[tuple[float, float]]] = field(default_factory=dict)
    kernel_text: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    stack: dict[tuple[str, str], int] = field(default_factory=dict)  # deepest, over the points

    def add(self, layer: str, fmt: str, sparsity: float, value: float,
            weight_bytes: float | None = None, kernel_text: dict[str, int] | None = None,
            stack: int | None = None) -> None:
        row = self.points.setdefault((layer, fmt), [])
        row.append((sparsity, value))
        row.sort()
        if weight_bytes is not None:
            wb = self.weight_bytes.setdefault((layer, fmt), [])
            wb.append((sparsity, float(weight_bytes)))
            wb.sort()
        if kernel_text:
            self.kernel_text.setdefault((layer, fmt), {}).update(kernel_text)
        if stack is not None:
            self.stack[(layer, fmt)] = max(self.stack.get((layer, fmt), 0), int(stack))

    def merge(self, other: CostTable) -> CostTable:
        """This table with `other`'s rows added (same board and unit)."""
        if other.board != self.board or (other.points and other.unit != self.unit):
            raise TinydeployError(f"cannot merge a {other.board} table into a {self.board} one")
        self.shapes.update(other.shapes)
        self.measured_with.update(other.measured_with)
        for rows in ("points", "weight_bytes", "kernel_text", "stack"):
            getattr(self, rows).update(getattr(other, rows))
        return self

    def predict(self, layer: str, fmt: str, sparsity: float = 0.0) -> float:
        """Instructions of `layer` in `fmt` at `sparsity` (see the module docstring)."""
        return self._interpolate(self.points, "points", layer, fmt, sparsity)

    def predict_weight_bytes(self, layer: str, fmt: str, sparsity: float = 0.0) -> float:
        """Flash bytes of `layer`'s weight arrays in `fmt` at `sparsity` (interpolated the
        same way as instructions)."""
        return self._interpolate(self.weight_bytes, "weight bytes", layer, fmt, sparsity)

    def kernels(self, layer: str, fmt: str) -> dict[str, int]:
        """The tdnn functions (name -> code bytes) `layer` in `fmt` links."""
        if (layer, fmt) not in self.kernel_text:
            raise TinydeployError(f"no kernel code measured for layer {layer!r} in {fmt} on "
                                  f"{self.board}; rebuild the cost table")
        return self.kernel_text[(layer, fmt)]

    def _interpolate(self, rows: dict[tuple[str, str], list[tuple[float, float]]], what: str,
                     layer: str, fmt: str, sparsity: float) -> float:
        row = rows.get((layer, fmt))
        shape = self.shapes.get(layer)
        if not row or shape is None:
            raise TinydeployError(f"no measured {what} for layer {layer!r} in {fmt} on "
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
        return {"board": self.board, "unit": self.unit, "layers": [
            {"layer": layer, "shape": self.shapes[layer].key(),
             "label": self.shapes[layer].label(), "format": fmt,
             "measured_with": self.measured_with.get(layer, "synthetic"),
             "measured": [{"sparsity": s, "instructions": v,
                           "weight_bytes": dict(self.weight_bytes.get((layer, fmt), [])).get(s)}
                          for s, v in row],
             "kernel_code_bytes": sum(self.kernel_text.get((layer, fmt), {}).values())}
            for (layer, fmt), row in sorted(self.points.items())]}


def plan_trials(layers: Mapping[str, LayerShape], board: str, *,
                params: Mapping[str, Mapping[str, Any]] | None = None,
                formats: Iterable[str] | None = None, sparsities: Iterable[float] = SPARSITIES,
                opt: str = "O2", cache_dir: Path | None = None) -> list[tuple[str, Trial]]:
    """(layer, trial) per point; a trial's id is the content hash of the point (shape, format,
    sparsity, board, -O level, kernel sources, and the layer's own parameters if given)."""
    fp = fingerprint(opt)
    wanted = list(formats) if formats is not None else None
    folder = cache_dir or default_cache_dir(board)
    out = []
    for layer, shape in layers.items():
        ref = save_params(dict(params[layer]), folder) if params and layer in params else None
        for fmt in formats_for(shape):
            if wanted is not None and fmt not in wanted:
                continue
            for s in _points(fmt, sparsities):
                point = {"shape": shape.key(), "format": fmt, "sparsity": s, "board": board,
                         "opt": opt, "fingerprint": fp, "schema": POINT_SCHEMA}
                if ref:
                    point["layer"] = ref
                out.append((layer, Trial(TRIAL_FN, point)))
    return out


def build_table(layers: Mapping[str, LayerShape], board: str, *,
                params: Mapping[str, Mapping[str, Any]] | None = None,
                formats: Iterable[str] | None = None, sparsities: Iterable[float] = SPARSITIES,
                opt: str = "O2", cache_dir: Path | None = None,
                executor: Executor | None = None, show_progress: bool = True) -> CostTable:
    """Measure what is not cached yet and return the table of every requested point.
    `params`: the layers' real int8 parameters (`shapes.layer_params`); without them a layer
    is measured as a synthetic layer of its shape."""
    planned = plan_trials(layers, board, params=params, formats=formats,
                          sparsities=sparsities, opt=opt, cache_dir=cache_dir)
    summary = run_sweep([t for _, t in planned], cache_dir or default_cache_dir(board),
                        executor=executor, show_progress=show_progress,
                        description=f"cost table {board}")
    if not summary.ok:
        first = summary.records[summary.failed[0]]
        raise TinydeployError(f"{len(summary.failed)} cost point(s) failed to measure; first: "
                              f"{first.get('error', '?')}")
    table = CostTable(board, shapes=dict(layers))
    for layer, trial in planned:
        result = summary.records[trial.id]["result"]
        p = trial.params
        table.unit = result["unit"]
        table.measured_with[layer] = "real" if "layer" in p else "synthetic"
        table.add(layer, p["format"], float(p["sparsity"]), float(result["instructions"]),
                  result.get("weight_bytes"), result.get("kernel_text"),
                  result.get("stack_high_water"))
    return table


def write_table(table: CostTable, path: Path) -> None:
    from tinydeploy.rundir import write_text_atomic

    write_text_atomic(path, json.dumps(table.to_json(), indent=1) + "\n")
