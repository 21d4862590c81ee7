"""Multi-checkpoint sensitivity gap.

Measurement, for every sparsity checkpoint s of the grid (default 0, 5, ..., 95%), on the
validation split (`Context.val`: the gap, its departure and the cliff are selection
quantities, so the test set is never read):

- M_s: the checkpoint model pruned as a whole to s by the criterion (magnitude by default)
  with scope `global` (one threshold for all layers) or `layerwise` (s in every layer); its
  top-1 accuracy is the uniform curve acc(s).
- isolated sensitivity of layer L at s: the accuracy a_L(s) of the *dense* model carrying only
  L's mask from M_s (every other layer dense). Under the layerwise scope this is exactly the
  sensitivity scan at ratio s; under the global scope L carries the sparsity the global
  threshold gave it at s.
- gap(s) = max_L a_L(s) - min_L a_L(s) (least- minus most-sensitive layer, in points);
  the most sensitive layer is argmin_L a_L(s), the ranking is the layers sorted by a_L(s).
- noise band: the gap that sampling noise of the evaluation images alone produces between K
  equally good measurements (K = number of layers). From the dense model's per-image
  correctness, B (default 1000) times draw K independent bootstrap resamples of the images,
  evaluate the dense model on each and take max - min of the K accuracies (seeded). The band
  is [0, q], q = the `band_quantile` (0.95) quantile of these B values.
- a paired bootstrap CI of gap(s) (same B resamples for every layer) is reported as well.
- departure: the first checkpoint from which gap(s) stays above the band at every later
  checkpoint (and, separately, the first checkpoint above it at all).
- ranking flips: changes of the most-sensitive layer between consecutive checkpoints where the
  gap is above the band (below it the ranking is within noise); every change of the full
  ranking is listed too.
- cliff: the cliff locator (`tinydeploy.analysis.cliff`) on acc(s) with the same criterion
  and scope, to 0.1% resolution; `lead` = cliff start - departure, in sparsity points.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinydeploy.analysis import cliff as cliff_mod
from tinydeploy.analysis.context import (
    Context,
    context_from,
    context_params,
    correct,
    pack_bits,
    pruned_copy,
    run_points,
    uniform_config,
    unpack_bits,
)
from tinydeploy.analysis.report import figure, images_text, md_table, pct, png, provenance
from tinydeploy.analysis.sensitivity import DEFAULT_GRID, parse_grid
from tinydeploy.prune.masks import apply_masks, get_masks

KIND = "gap"
PLOTS = ("gap",)


def gap_point(params: dict[str, Any]) -> dict[str, Any]:
    """Trial: the uniform model at one checkpoint and each of its layer masks in isolation
    (per-image correctness kept as packed bits for the bootstrap)."""
    ctx = context_from(params)
    s = float(params["sparsity"])
    cfg = uniform_config(params.get("method", "magnitude"), s, params.get("scope", "global"),
                         int(params.get("seed", 0)))
    if s > 0:
        pruned = pruned_copy(ctx, cfg)
        masks = get_masks(pruned)
    else:
        pruned, masks = ctx.copy_model(), {}
    data = ctx.val
    uniform = correct(pruned, data.x, data.y)
    layers: dict[str, Any] = {}
    for name in ctx.layer_sizes():
        if name in masks:
            model = ctx.copy_model()
            apply_masks(model, {name: masks[name]})
            flags = correct(model, data.x, data.y)
            sparsity = 1.0 - float(masks[name].mean())
        else:
            flags, sparsity = correct(ctx.model, data.x, data.y), 0.0
        layers[name] = {"accuracy": 100.0 * float(flags.float().mean()),
                        "sparsity": sparsity, "correct": pack_bits(flags)}
    return {"uniform_accuracy": 100.0 * float(uniform.float().mean()),
            "uniform_correct": pack_bits(uniform), "n": data.n, "layers": layers}


def noise_band(dense: np.ndarray, k: int, samples: int, quantile: float,
               seed: int) -> dict[str, Any]:
    """max - min of K dense accuracies on independent bootstrap resamples, B times."""
    rng = np.random.default_rng(seed)
    n = len(dense)
    gaps = np.empty(samples)
    for b in range(samples):
        accs = [dense[rng.integers(0, n, n)].mean() * 100 for _ in range(k)]
        gaps[b] = max(accs) - min(accs)
    return {"upper": float(np.quantile(gaps, quantile)), "mean": float(gaps.mean()),
            "quantile": quantile, "samples": samples, "k": k}


def analyse(checkpoints: Sequence[float], results: Sequence[dict[str, Any]], *,
            samples: int = 1000, quantile: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Gap, band, departure and flips from the per-checkpoint trial results."""
    layers = list(results[0]["layers"])
    n = results[0]["n"]
    zero = checkpoints.index(0.0)
    dense = unpack_bits(results[zero]["uniform_correct"], n)
    band = noise_band(dense, len(layers), samples, quantile, seed)
    rng = np.random.default_rng(seed + 1)
    idx = rng.integers(0, n, size=(min(samples, 200), n), dtype=np.int32)
    rows = []
    for s, res in zip(checkpoints, results, strict=True):
        acc = {name: res["layers"][name]["accuracy"] for name in layers}
        order = sorted(layers, key=lambda name: (acc[name], layers.index(name)))
        flags = np.stack([unpack_bits(res["layers"][name]["correct"], n) for name in layers])
        boot = flags[:, idx].mean(axis=2) * 100  # (layers, B)
        boot_gap = boot.max(axis=0) - boot.min(axis=0)
        gap = acc[order[-1]] - acc[order[0]]
        rows.append({"sparsity": s, "uniform_accuracy": res["uniform_accuracy"],
                     "layer_accuracy": acc,
                     "layer_sparsity": {name: res["layers"][name]["sparsity"]
                                        for name in layers},
                     "gap": gap, "gap_ci": [float(np.quantile(boot_gap, 0.025)),
                                            float(np.quantile(boot_gap, 0.975))],
                     "most_sensitive": order[0], "least_sensitive": order[-1],
                     "ranking": order, "outside_band": gap > band["upper"]})
    first = next((r["sparsity"] for r in rows if r["outside_band"]), None)
    persistent = None
    for r in reversed(rows):
        if not r["outside_band"]:
            break
        persistent = r["sparsity"]
    flips, changes = [], []
    for prev, cur in itertools.pairwise(rows):
        if prev["ranking"] != cur["ranking"]:
            changes.append({"sparsity": cur["sparsity"], "from": prev["ranking"],
                            "to": cur["ranking"]})
        if (prev["outside_band"] and cur["outside_band"]
                and prev["most_sensitive"] != cur["most_sensitive"]):
            flips.append({"sparsity": cur["sparsity"], "from": prev["most_sensitive"],
                          "to": cur["most_sensitive"]})
    return {"layers": layers, "noise_band": band, "checkpoints": rows,
            "departure": persistent, "first_outside_band": first,
            "flips": flips, "ranking_changes": changes}


def run(
    ctx: Context,
    *,
    sweep_dir: str | Path,
    checkpoints: Sequence[float] | None = None,
    method: str = "magnitude",
    scope: str = "global",
    bootstrap: int = 1000,
    band_quantile: float = 0.95,
    resolution: float = 0.001,
    seed: int = 0,
    data_dir: str | Path | None = None,
    eval_limit: int | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    uniform_config(method, 0.5, scope)
    checkpoints = sorted({0.0, *(checkpoints or parse_grid(DEFAULT_GRID))})
    base = {**context_params(ctx, data_dir, eval_limit), "method": method, "scope": scope,
            "seed": seed}
    results = run_points("tinydeploy.analysis.gap:gap_point",
                         [{**base, "sparsity": s} for s in checkpoints], sweep_dir,
                         show_progress=show_progress, description="gap")
    data = analyse(checkpoints, results, samples=bootstrap, quantile=band_quantile, seed=seed)
    cbase = cliff_mod.point_params(ctx, method=method, scope=scope, finetune_epochs=0,
                                   finetune_lr=0.0, train_limit=None, seed=seed,
                                   data_dir=data_dir, eval_limit=eval_limit)
    located = cliff_mod.locate_cliff(
        evaluate_many=cliff_mod.sweep_evaluator(cbase, sweep_dir, show_progress),
        coarse=checkpoints, resolution=resolution)
    cl = {k: located[k] for k in ("cliff_start", "cliff_end", "largest_step",
                                  "last_above_threshold", "baseline_accuracy")}
    lead = (cl["cliff_start"] - data["departure"]) if data["departure"] is not None else None
    return {"kind": KIND, "config": {"method": method, "scope": scope, "seed": seed,
                                     "bootstrap": bootstrap, "band_quantile": band_quantile,
                                     "checkpoints": checkpoints},
            "provenance": provenance(ctx), **data, "cliff": cl, "lead": lead}


def plots(data: dict[str, Any]) -> dict[str, bytes]:
    plt = figure()
    rows = data["checkpoints"]
    xs = [100 * r["sparsity"] for r in rows]
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    ax.plot(xs, [r["gap"] for r in rows], "o-", ms=4, label="gap (least - most sensitive)")
    ax.fill_between(xs, [r["gap_ci"][0] for r in rows], [r["gap_ci"][1] for r in rows],
                    alpha=0.2, label="gap 95% bootstrap CI")
    ax.axhspan(0, data["noise_band"]["upper"], color="gray", alpha=0.3,
               label=f"noise band (q{100 * data['noise_band']['quantile']:.0f})")
    cl = data["cliff"]
    for a in (ax, ax2):
        a.axvspan(100 * cl["cliff_start"], 100 * max(cl["cliff_end"], cl["cliff_start"] + 0.001),
                  color="C3", alpha=0.25, label="cliff")
        if data["departure"] is not None:
            a.axvline(100 * data["departure"], color="C2", ls="--", label="gap leaves band")
        a.grid(alpha=0.3)
    for f in data["flips"]:
        ax.annotate(f"{f['from']}->{f['to']}", (100 * f["sparsity"], 0), fontsize=7,
                    rotation=90, va="bottom")
    ax.set_ylabel("gap (points)")
    ax.legend(fontsize=7)
    cfg = data["config"]
    ax.set_title(f"sensitivity gap, {cfg['method']} {cfg['scope']}")
    for name in data["layers"]:
        ax2.plot(xs, [r["layer_accuracy"][name] for r in rows], ".-", label=f"{name} only")
    ax2.plot(xs, [r["uniform_accuracy"] for r in rows], "k-", lw=2, label="whole model")
    ax2.set_xlabel("sparsity checkpoint (%)")
    ax2.set_ylabel("validation top-1 (%)")
    ax2.legend(fontsize=7)
    return {"gap": png(fig)}


def markdown(data: dict[str, Any]) -> str:
    layers = data["layers"]
    rows = [[pct(r["sparsity"], 0), r["uniform_accuracy"],
             *(r["layer_accuracy"][n] for n in layers), r["gap"],
             f"[{r['gap_ci'][0]:.2f}, {r['gap_ci'][1]:.2f}]", r["most_sensitive"],
             "yes" if r["outside_band"] else ""] for r in data["checkpoints"]]
    band = data["noise_band"]
    cl = data["cliff"]
    flips = ", ".join(f"{f['from']} -> {f['to']} at {pct(f['sparsity'], 0)}"
                      for f in data["flips"]) or "none"
    summary = md_table(["", "value"], [
        ["noise band", f"[0, {band['upper']:.2f}] points (mean {band['mean']:.2f}; "
                       f"{band['samples']} bootstrap draws of {band['k']} resamples)"],
        ["gap leaves the band (for good)", pct(data["departure"], 0)],
        ["gap first above the band", pct(data["first_outside_band"], 0)],
        ["cliff (uniform curve)", f"{pct(cl['cliff_start'])} - {pct(cl['cliff_end'])}"],
        ["lead of the gap over the cliff", "n/a" if data["lead"] is None
         else f"{100 * data['lead']:.1f} sparsity points"],
        ["most-sensitive-layer flips (outside the band)", flips],
    ])
    return "\n\n".join([
        "# Sensitivity gap across sparsity checkpoints",
        f"`{data['config']['method']}` pruning, scope `{data['config']['scope']}`; "
        f"{images_text(data['provenance'])}; accuracies are validation top-1. Definitions: "
        "`tinydeploy/analysis/gap.py` docstring.",
        summary,
        md_table(["checkpoint", "whole model", *(f"{n} only" for n in layers), "gap",
                  "gap 95% CI", "most sensitive", "outside band"], rows),
        f"Plot: `{KIND}_gap.png`; raw numbers (per-image results included): trial files.",
    ]) + "\n"
