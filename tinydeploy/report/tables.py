"""The report's tables as plain rows of (header, raw value, formatted text).

Markdown and HTML are both rendered from these rows, so the two can never disagree, and the
HTML keeps each raw value in a data-value attribute that tests compare with the JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tinydeploy.report.schema import Report, Variant


@dataclass(frozen=True)
class Cell:
    raw: Any
    text: str


@dataclass(frozen=True)
class Table:
    title: str
    headers: list[str]
    rows: list[list[Cell]]


def fmt(value: Any, kind: str = "") -> Cell:
    if value is None:
        return Cell(None, "–")
    if kind == "pct":
        return Cell(value, f"{value:.2f}")
    if kind == "pp":
        return Cell(value, f"{value:+.2f}")
    if kind == "ratio":
        return Cell(value, f"{value:.3f}x")
    if kind == "sparsity":
        return Cell(value, f"{100 * value:.1f}%")
    if isinstance(value, int) or kind == "int":
        return Cell(value, f"{round(value):,}")
    if isinstance(value, float):
        return Cell(value, f"{value:.3g}")
    return Cell(value, str(value))


def summary_table(report: Report) -> Table:
    unit = report.variant(report.baseline).latency_unit
    headers = [
        "variant", "method", "sparsity", "format", "float acc %", "int8 host acc %",
        "device acc %", "Δ acc pp", "weight bytes", "code bytes", "flash bytes",
        "peak RAM bytes", "MACs", "effective MACs", f"{unit}/inference", "speed-up",
        "compression",
    ]
    rows = []
    for v in report.variants:
        d = report.deltas(v)
        rows.append([
            fmt(v.id), fmt(v.method), fmt(v.sparsity, "sparsity"), fmt(v.format),
            fmt(v.accuracy_float, "pct"), fmt(v.accuracy_int8_host, "pct"),
            fmt(v.accuracy_device, "pct"), fmt(d["accuracy_device_pp"], "pp"),
            fmt(v.weight_bytes, "int"), fmt(v.code_bytes, "int"), fmt(v.flash_total, "int"),
            fmt(v.peak_ram, "int"), fmt(v.macs_dense, "int"), fmt(v.macs_effective, "int"),
            fmt(v.latency_per_inference, "int"), fmt(d["speedup"], "ratio"),
            fmt(v.compression_ratio, "ratio"),
        ])
    return Table("Variants", headers, rows)


def layer_table(v: Variant) -> Table:
    """Per-layer rows; latency-aware variants add the cost table's predicted instructions and
    the prediction's error against the measurement."""
    total = sum(row.latency or 0 for row in v.layers) or None
    predicted = any(row.predicted_latency is not None for row in v.layers)
    headers = ["layer", "op", "shape", "params", "nnz", "format", "bytes", "MACs",
               "effective MACs", f"{v.latency_unit}", "latency share"]
    if predicted:
        headers += [f"predicted {v.latency_unit}", "prediction error"]
    rows = []
    for row in v.layers:
        share = None if total is None or row.latency is None else row.latency / total
        cells = [
            fmt(row.name), fmt(row.op), fmt(row.shape), fmt(row.params, "int"),
            fmt(row.nnz, "int"), fmt(row.format), fmt(row.bytes, "int"), fmt(row.macs, "int"),
            fmt(row.effective_macs, "int"), fmt(row.latency, "int"),
            Cell(share, "–" if share is None else f"{100 * share:.1f}%"),
        ]
        if predicted:
            err = (None if row.predicted_latency is None or not row.latency
                   else row.predicted_latency / row.latency - 1)
            cells += [fmt(row.predicted_latency, "int"),
                      Cell(err, "–" if err is None else f"{100 * err:+.1f}%")]
        rows.append(cells)
    return Table(f"Layers of {v.id}", headers, rows)
