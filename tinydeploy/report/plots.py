"""Report plots (matplotlib, headless). Each function returns PNG bytes."""

from __future__ import annotations

import io
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from tinydeploy.report.schema import Report, Variant


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _series(report: Report, attr: str) -> dict[str, list[tuple[float, float]]]:
    """Per (method, format) series of (sparsity %, value), sorted by sparsity; the dense
    baseline starts every series at its own sparsity."""
    series: dict[str, list[tuple[float, float]]] = defaultdict(list)
    base = report.variant(report.baseline)
    for v in report.variants:
        value = getattr(v, attr)
        if value is not None and v is not base:
            series[f"{v.group or v.method}/{v.format}"].append((100 * v.sparsity, value))
    base_value = getattr(base, attr)
    if base_value is not None:
        for pts in series.values():
            pts.append((100 * base.sparsity, base_value))
        series.setdefault(f"{base.group or base.method}/{base.format}",
                          [(100 * base.sparsity, base_value)])
    return {k: sorted(pts) for k, pts in sorted(series.items())}


def metric_vs_sparsity(report: Report, attr: str, ylabel: str, title: str) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for label, pts in _series(report, attr).items():
        xs, ys = zip(*pts, strict=True)
        ax.plot(xs, ys, marker="o", label=label)
    ax.set_xlabel("weight sparsity (%)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)


def _front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The Pareto-optimal (latency, accuracy) points: each more accurate than every faster one."""
    front, best = [], float("-inf")
    for lat, acc in sorted(points, key=lambda p: (p[0], -p[1])):
        if acc > best:
            front.append((lat, acc))
            best = acc
    return front


def pareto(report: Report) -> bytes:
    """Accuracy vs latency with one Pareto front per method group (the dense baseline is on
    every group's front: sparsity 0 of any method), and the front of all variants dashed."""
    pts = [(v.latency_per_inference, v.accuracy_device if v.accuracy_device is not None
            else v.accuracy_int8_host, v) for v in report.variants
           if v.latency_per_inference is not None]
    pts = [p for p in pts if p[1] is not None]
    base = report.variant(report.baseline)
    groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for lat, acc, v in pts:
        groups[v.group or v.method].append((lat, acc))
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for label, gpts in sorted(groups.items()):
        if base.latency_per_inference is not None and (base.group or base.method) != label:
            gpts = [*gpts, *[(lat, acc) for lat, acc, v in pts if v is base]]
        front = _front(gpts)
        (line,) = ax.step(*zip(*front, strict=True), where="post", lw=1.4, label=label)
        ax.scatter(*zip(*gpts, strict=True), s=16, color=line.get_color())
    for lat, acc, v in pts:
        ax.annotate(v.id, (lat, acc), fontsize=6, xytext=(3, 3), textcoords="offset points")
    front = _front([(lat, acc) for lat, acc, _ in pts])
    if front:
        ax.plot(*zip(*front, strict=True), color="k", lw=0.8, ls="--", label="all variants")
    ax.legend(fontsize=7)
    unit = base.latency_unit
    ax.set_xlabel(f"{unit} per inference")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Accuracy vs latency: Pareto front per method")
    ax.grid(alpha=0.3)
    return _png(fig)


def layer_latency_bars(variants: list[Variant]) -> bytes:
    names = [row.name for row in variants[0].layers] if variants else []
    fig, ax = plt.subplots(figsize=(7, 3.8))
    width = 0.8 / max(len(variants), 1)
    for i, v in enumerate(variants):
        lat = {row.name: row.latency or 0 for row in v.layers}
        xs = [j + i * width for j in range(len(names))]
        ax.bar(xs, [lat.get(n, 0) for n in names], width=width, label=v.id)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(names))], names, fontsize=8)
    unit = variants[0].latency_unit if variants else "instructions"
    ax.set_ylabel(f"{unit}")
    ax.set_title("Per-layer latency")
    ax.legend(fontsize=6)
    ax.grid(alpha=0.3, axis="y")
    return _png(fig)


def all_plots(report: Report) -> dict[str, bytes]:
    unit = report.variant(report.baseline).latency_unit
    with_layers = [v for v in report.variants if v.layers and any(r.latency for r in v.layers)]
    plots = {
        "accuracy_vs_sparsity.png": metric_vs_sparsity(
            report, "accuracy_device", "on-device accuracy (%)", "Accuracy vs sparsity"),
        "latency_vs_sparsity.png": metric_vs_sparsity(
            report, "latency_per_inference", f"{unit} / inference", "Latency vs sparsity"),
        "flash_vs_sparsity.png": metric_vs_sparsity(
            report, "flash_total", "flash (bytes)", "Flash vs sparsity"),
        "pareto.png": pareto(report),
    }
    if with_layers:
        plots["layer_latency.png"] = layer_latency_bars(with_layers)
    return plots
