"""Distributions of the surviving weights.

For every criterion and sparsity (whole-model pruning, scope as chosen) and every prunable
layer: a histogram of the non-zero weights, on fixed bins spanning the layer's dense weight
range (`bins` bins), so methods and sparsities are directly comparable. Magnitude pruning keeps
the tails and empties the centre; random pruning keeps the dense shape at a lower height;
data-driven criteria sit in between.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinydeploy.analysis.context import (
    Context,
    context_from,
    context_params,
    prune_in_place,
    run_points,
    uniform_config,
)
from tinydeploy.analysis.report import figure, md_table, pct, png, provenance
from tinydeploy.prune.criteria import get_criterion
from tinydeploy.prune.masks import prunable_layers

KIND = "weights"
PLOTS = ("histograms",)


def weights_point(params: dict[str, Any]) -> dict[str, Any]:
    """Trial: histograms of the surviving weights of one (method, sparsity) variant."""
    ctx = context_from(params)
    model = ctx.copy_model()
    s = float(params["sparsity"])
    if s > 0:
        prune_in_place(model, ctx, uniform_config(params["method"], s, params["scope"],
                                                  int(params.get("seed", 0))))
    dense = prunable_layers(ctx.model)
    out = {}
    for name, layer in prunable_layers(model).items():
        ref = dense[name].weight.detach().numpy().ravel()
        edges = np.linspace(float(ref.min()), float(ref.max()), int(params["bins"]) + 1)
        w = layer.weight.detach().numpy().ravel()
        alive = w[w != 0]
        counts, _ = np.histogram(alive, bins=edges)
        out[name] = {"edges": edges.tolist(), "counts": counts.tolist(),
                     "nonzeros": int(alive.size), "weights": int(w.size),
                     "mean_abs": float(np.abs(alive).mean()) if alive.size else 0.0}
    return {"layers": out}


def run(
    ctx: Context,
    *,
    sweep_dir: str | Path,
    methods: Sequence[str] = ("magnitude", "random", "snip"),
    sparsities: Sequence[float] = (0.5, 0.8, 0.9),
    scope: str = "global",
    bins: int = 60,
    seed: int = 0,
    data_dir: str | Path | None = None,
    eval_limit: int | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    for m in methods:
        get_criterion(m)  # unknown names fail before any work
    uniform_config(methods[0], 0.5, scope)
    base = {**context_params(ctx, data_dir, eval_limit), "scope": scope, "bins": bins,
            "seed": seed}
    combos = [(m, s) for m in methods for s in sparsities]
    results = run_points("tinydeploy.analysis.weights:weights_point",
                         [{**base, "method": m, "sparsity": s} for m, s in combos], sweep_dir,
                         show_progress=show_progress, description="weights")
    return {"kind": KIND, "provenance": provenance(ctx, selection=False),
            "config": {"methods": list(methods), "sparsities": list(sparsities),
                       "scope": scope, "bins": bins, "seed": seed},
            "variants": [{"method": m, "sparsity": s, **r}
                         for (m, s), r in zip(combos, results, strict=True)]}


def plots(data: dict[str, Any]) -> dict[str, bytes]:
    plt = figure()
    cfg = data["config"]
    layers = list(data["variants"][0]["layers"])
    fig, axes = plt.subplots(len(layers), len(cfg["sparsities"]), squeeze=False,
                             figsize=(3.6 * len(cfg["sparsities"]), 2.4 * len(layers)))
    for v in data["variants"]:
        j = cfg["sparsities"].index(v["sparsity"])
        for i, name in enumerate(layers):
            h = v["layers"][name]
            edges = np.array(h["edges"])
            axes[i][j].stairs(h["counts"], edges, label=v["method"])
            axes[i][j].set_title(f"{name}, sparsity {pct(v['sparsity'], 0)}", fontsize=8)
            axes[i][j].tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    fig.supxlabel("weight value")
    fig.supylabel("surviving weights per bin")
    return {"histograms": png(fig)}


def markdown(data: dict[str, Any]) -> str:
    layers = list(data["variants"][0]["layers"])
    rows = [[v["method"], pct(v["sparsity"], 0),
             *(f"{v['layers'][n]['nonzeros']} / {v['layers'][n]['mean_abs']:.4f}"
               for n in layers)] for v in data["variants"]]
    return "\n\n".join([
        "# Surviving-weight distributions",
        f"Scope `{data['config']['scope']}`; cells: non-zeros / mean |w| of the survivors.",
        md_table(["method", "sparsity", *layers], rows),
        f"Plot: `{KIND}_histograms.png`; histogram counts and bin edges: `{KIND}.json`.",
    ]) + "\n"
