"""Layer sensitivity scan.

For every prunable layer L and every ratio r of the grid (default 0, 0.05, ..., 0.95): a copy
of the checkpoint with only L pruned to sparsity r by the criterion (`magnitude` by default,
any registered weight criterion works; explicit scope of the pruning engine), every other layer
untouched, no retraining. Measured on the validation split (`Context.val`, the checkpoint
recipe's held-out training images; never the test set, as the scan drives selection): top-1
accuracy acc_L(r) and delta_L(r) = acc_L(r) - acc_dense, in percentage points. Per ratio, the
most sensitive layer is the one with the lowest accuracy, the least sensitive the one with the
highest (the first in layer order on ties).

On an already pruned checkpoint r is the layer's total sparsity: ratios at or below its
current sparsity leave the layer as it is (the engine never re-grows a weight).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tinydeploy.analysis.context import (
    Context,
    accuracy,
    context_from,
    context_params,
    prune_in_place,
    run_points,
)
from tinydeploy.analysis.report import figure, images_text, md_table, png, provenance
from tinydeploy.errors import TinydeployError
from tinydeploy.prune.engine import PruneConfig
from tinydeploy.prune.masks import prunable_layers

KIND = "sensitivity"
PLOTS = ("heatmap", "curves")
DEFAULT_GRID = "0:0.95:0.05"


def parse_grid(text: str) -> list[float]:
    """Comma-separated items, each a sparsity or an inclusive range start:stop:step, e.g.
    '0:0.95:0.05' or '0:0.9:0.1,0.95,0.98'; values in [0, 1)."""
    values: list[float] = []
    try:
        for item in filter(None, (t.strip() for t in text.split(","))):
            if ":" in item:
                start, stop, step = (float(v) for v in item.split(":"))
                if step <= 0:
                    raise ValueError
                n = round((stop - start) / step)
                values += [round(start + i * step, 6) for i in range(n + 1)]
            else:
                values.append(float(item))
    except ValueError:
        raise TinydeployError(f"bad grid {text!r}; use start:stop:step and/or a comma list "
                              "such as 0:0.9:0.1,0.95") from None
    if not values or any(not 0.0 <= v < 1.0 for v in values):
        raise TinydeployError(f"grid {text!r} must list sparsities in [0, 1)")
    return sorted(set(values))


def layer_point(params: dict[str, Any]) -> dict[str, Any]:
    """Trial: validation accuracy with one layer pruned to `ratio` (layer None: the checkpoint
    as is)."""
    ctx = context_from(params)
    model = ctx.copy_model()
    layer, ratio = params.get("layer"), float(params.get("ratio", 0.0))
    if layer is not None and ratio > 0:
        cfg = PruneConfig(method=params.get("method", "magnitude"), sparsity=ratio,
                          scope="explicit", layer_sparsity={layer: ratio},
                          seed=int(params.get("seed", 0)))
        prune_in_place(model, ctx, cfg)
    return {"accuracy": accuracy(model, ctx.val)}


def scan(
    ctx: Context,
    *,
    sweep_dir: str | Path,
    ratios: Sequence[float] | None = None,
    method: str = "magnitude",
    layers: Sequence[str] | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    eval_limit: int | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Run the scan (resumable through the sweep runner) and return every number (validation
    accuracies; `eval_limit` keeps the first N validation images)."""
    ratios = list(ratios) if ratios is not None else parse_grid(DEFAULT_GRID)
    all_layers = list(prunable_layers(ctx.model))
    layers = list(layers) if layers else all_layers
    unknown = [n for n in layers if n not in all_layers]
    if unknown:
        raise TinydeployError(f"unknown layer {unknown[0]!r}; choose from {', '.join(all_layers)}")
    base = {**context_params(ctx, data_dir, eval_limit), "method": method, "seed": seed}
    points = [{**base, "layer": None, "ratio": 0.0}]
    points += [{**base, "layer": n, "ratio": r} for n in layers for r in ratios]
    results = run_points("tinydeploy.analysis.sensitivity:layer_point", points, sweep_dir,
                         show_progress=show_progress, description="sensitivity")
    baseline = results[0]["accuracy"]
    acc = {n: [results[1 + i * len(ratios) + j]["accuracy"] for j in range(len(ratios))]
           for i, n in enumerate(layers)}
    return summarize(ctx, baseline, ratios, acc, method=method, seed=seed)


def summarize(ctx: Context | None, baseline: float, ratios: Sequence[float],
              acc: dict[str, list[float]], **config: Any) -> dict[str, Any]:
    layers = list(acc)
    delta = {n: [a - baseline for a in acc[n]] for n in layers}
    per_ratio = []
    for j, r in enumerate(ratios):
        col = [(acc[n][j], i) for i, n in enumerate(layers)]
        lo, hi = min(col), max(col, key=lambda t: (t[0], -t[1]))
        per_ratio.append({"ratio": r, "most_sensitive": layers[lo[1]], "most_acc": lo[0],
                          "least_sensitive": layers[hi[1]], "least_acc": hi[0],
                          "gap": hi[0] - lo[0]})
    sizes = ctx.layer_sizes() if ctx is not None else {}
    return {
        "kind": KIND,
        "config": {**config, "ratios": list(ratios), "layers": layers},
        "provenance": provenance(ctx) if ctx is not None else {},
        "baseline_accuracy": baseline,
        "layer_weights": {n: sizes.get(n) for n in layers},
        "accuracy": acc,
        "delta": delta,
        "per_ratio": per_ratio,
    }


def plots(data: dict[str, Any]) -> dict[str, bytes]:
    import numpy as np

    plt = figure()
    layers, ratios = data["config"]["layers"], data["config"]["ratios"]
    delta = np.array([data["delta"][n] for n in layers])
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(ratios) + 2), 0.5 * len(layers) + 2))
    lim = max(1.0, float(np.abs(delta).max()))
    im = ax.imshow(delta, aspect="auto", cmap="RdBu", vmin=-lim, vmax=lim)
    ax.set_xticks(range(len(ratios)), [f"{100 * r:.0f}" for r in ratios], fontsize=7)
    ax.set_yticks(range(len(layers)), layers)
    for i in range(len(layers)):
        for j in range(len(ratios)):
            ax.text(j, i, f"{delta[i, j]:.0f}", ha="center", va="center", fontsize=6)
    ax.set_xlabel("layer sparsity (%)")
    ax.set_title(f"validation accuracy change (points) pruning one layer; dense "
                 f"{data['baseline_accuracy']:.2f}%")
    fig.colorbar(im, ax=ax, label="delta top-1 (points)")
    heat = png(fig)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for n in layers:
        ax.plot([100 * r for r in ratios], data["accuracy"][n], marker="o", ms=3, label=n)
    ax.axhline(data["baseline_accuracy"], color="gray", ls=":", label="dense")
    ax.set_xlabel("layer sparsity (%)")
    ax.set_ylabel("validation top-1 (%)")
    ax.set_title("layer sensitivity (one layer pruned, no retraining)")
    ax.legend()
    ax.grid(alpha=0.3)
    return {"heatmap": heat, "curves": png(fig)}


def markdown(data: dict[str, Any]) -> str:
    layers = data["config"]["layers"]
    rows = []
    for j, pr in enumerate(data["per_ratio"]):
        rows.append([f"{100 * pr['ratio']:.0f}%",
                     *(f"{data['accuracy'][n][j]:.2f} ({data['delta'][n][j]:+.2f})"
                       for n in layers),
                     pr["most_sensitive"], pr["least_sensitive"], f"{pr['gap']:.2f}"])
    cfg = data["config"]
    return "\n\n".join([
        "# Layer sensitivity scan",
        f"Checkpoint `{data['provenance'].get('checkpoint')}` "
        f"({data['provenance'].get('dataset')}; {images_text(data['provenance'])}); "
        f"criterion `{cfg['method']}`, one layer pruned at a time, no retraining. "
        f"Dense validation top-1 {data['baseline_accuracy']:.2f}%.",
        "Cells: validation top-1 % (change in points).",
        md_table(["sparsity", *layers, "most sensitive", "least sensitive", "gap"], rows),
        f"Plots: `{KIND}_heatmap.png`, `{KIND}_curves.png`; raw numbers: `{KIND}.json`.",
    ]) + "\n"
