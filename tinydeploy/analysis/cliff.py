"""Accuracy-cliff locator.

`locate_cliff` takes an accuracy function of the sparsity (any method, with or without
fine-tuning per point: it is only a callable) and works on an integer grid of `resolution`
(default 0.1% sparsity):

1. coarse sweep over `coarse` (default 0, 5, ..., 95%); the baseline a0 is acc(0);
2. the *cliff region* comes from the coarse curve: the steepest coarse interval (largest
   accuracy drop per unit sparsity), extended over neighbouring coarse intervals whose slope is
   at least `region_frac` (25%) of the steepest, plus one coarse step on each side (a cliff
   may begin or end inside a coarse interval). a_hi / a_lo: accuracy at its two ends,
   D = a_hi - a_lo;
3. refinement: the intervals that matter are filled with a denser grid (spacing divided by 5
   each round) until they are one resolution step wide: the steepest interval of the region
   (ties: the narrowest), the interval where the cliff starts and the one where it ends, and
   the one where accuracy first falls below the threshold (at most `max_evaluations` points in all).

Reported (sparsities in [0, 1], accuracies in %):
- cliff start: the last point of the region before accuracy first falls below
  a_hi - 0.1 D; cliff end: the first point after it with acc <= a_lo + 0.1 D (a 10%-90%
  transition width, both bracketed to the resolution);
- largest single-step drop: the largest accuracy loss between adjacent points one resolution
  step apart, and where it is;
- sharpness: (acc(start) - acc(end)) / width, in points per 1% of sparsity;
- last sparsity above the threshold: the last point before accuracy first falls below
  `threshold` x a0 (bracketed to the resolution).
Accuracy curves are not monotone in general: the locator brackets crossings, it does not
claim there is only one.

`run` (the `analyze cliff` command) measures the curve on the validation split (`Context.val`):
locating the cliff is a selection, so it never reads the test set.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tinydeploy.analysis.context import (
    Context,
    accuracy,
    context_from,
    context_params,
    finetune,
    finetune_cfg,
    prune_in_place,
    run_points,
    uniform_config,
)
from tinydeploy.analysis.report import figure, images_text, md_table, pct, png, provenance
from tinydeploy.errors import TinydeployError

KIND = "cliff"
PLOTS = ("curve",)
DEFAULT_COARSE = "0:0.95:0.05"
SUBDIVIDE = 5


def _largest_step(ks: list[int], acc: dict[int, float]) -> tuple[int, int, float]:
    """(from, to, drop) of the largest drop between adjacent points, preferring intervals of
    the finest spacing present."""
    widths = [b - a for a, b in itertools.pairwise(ks)]
    finest = min(widths)
    best = max(((acc[a] - acc[b], -a, a, b) for a, b in itertools.pairwise(ks)
                if b - a == finest))
    return best[2], best[3], best[0]


def locate_cliff(
    acc_fn: Callable[[float], float] | None = None,
    *,
    evaluate_many: Callable[[list[float]], list[float]] | None = None,
    coarse: Sequence[float] | None = None,
    resolution: float = 0.001,
    threshold: float = 0.95,
    region_frac: float = 0.25,
    max_rounds: int = 20,
    max_evaluations: int = 400,
) -> dict[str, Any]:
    """Locate the cliff of an accuracy-vs-sparsity curve (see the module docstring).

    Give `acc_fn(sparsity) -> accuracy %` or `evaluate_many([sparsities]) -> [accuracies]`
    (a batch evaluator, e.g. backed by the sweep runner)."""
    if (acc_fn is None) == (evaluate_many is None):
        raise TinydeployError("give exactly one of acc_fn or evaluate_many")
    if not 0 < resolution < 0.5:
        raise TinydeployError(f"resolution must be in (0, 0.5), got {resolution}")
    if not 0 < threshold <= 1:
        raise TinydeployError(f"threshold must be in (0, 1], got {threshold}")
    scale = round(1 / resolution)
    coarse = list(coarse) if coarse is not None else [i * 0.05 for i in range(20)]
    grid = sorted({0, *(round(s * scale) for s in coarse)})
    if len(grid) < 3 or grid[-1] >= scale:
        raise TinydeployError("the coarse grid needs >= 3 sparsities in [0, 1)")
    acc: dict[int, float] = {}

    def evaluate(units: list[int]) -> None:
        todo = [u for u in sorted(set(units)) if u not in acc]
        if not todo:
            return
        values = (evaluate_many([u / scale for u in todo]) if evaluate_many is not None
                  else [acc_fn(u / scale) for u in todo])
        acc.update({u: float(v) for u, v in zip(todo, values, strict=True)})

    evaluate(grid)
    a0 = acc[0]
    slopes = [(acc[a] - acc[b]) / (b - a) for a, b in itertools.pairwise(grid)]
    steep = max(range(len(slopes)), key=lambda i: (slopes[i], -i))
    lo = hi = steep
    if slopes[steep] > 0:
        while lo > 0 and slopes[lo - 1] >= region_frac * slopes[steep]:
            lo -= 1
        while hi < len(slopes) - 1 and slopes[hi + 1] >= region_frac * slopes[steep]:
            hi += 1
    region = (grid[max(lo - 1, 0)], grid[min(hi + 2, len(grid) - 1)])  # + one coarse step
    a_hi, a_lo = acc[region[0]], acc[region[1]]
    depth = a_hi - a_lo
    level = threshold * a0

    def analyse() -> dict[str, Any]:
        ks = sorted(acc)
        inside = [k for k in ks if region[0] <= k <= region[1]]
        pairs = list(itertools.pairwise(inside))
        s_from, s_to, s_drop = _largest_step(inside, acc) if len(inside) > 1 else (0, 0, 0.0)
        first = next((i for i, k in enumerate(inside) if acc[k] < a_hi - 0.1 * depth), None)
        start = inside[max(first - 1, 0)] if first is not None else region[0]
        end = next((k for k in inside if k > start and acc[k] <= a_lo + 0.1 * depth),
                   region[1])
        below = next((i for i, k in enumerate(ks) if acc[k] < level), None)
        last_above = ks[below - 1] if below else (ks[-1] if below is None else None)
        todo = []
        if pairs:  # the steepest interval (ties: the narrowest, then the first)
            a, b = max(pairs, key=lambda p: ((acc[p[0]] - acc[p[1]]) / (p[1] - p[0]),
                                             p[0] - p[1], -p[0]))
            if acc[a] > acc[b]:
                todo.append((a, b))
        nxt = {k: ks[i + 1] for i, k in enumerate(ks[:-1])}
        prv = {k: ks[i - 1] for i, k in enumerate(ks[1:], start=1)}
        if start in nxt:
            todo.append((start, nxt[start]))
        if end in prv:
            todo.append((prv[end], end))
        if below:
            todo.append((ks[below - 1], ks[below]))
        todo = [(a, b) for a, b in todo if b - a > 1]
        return {"start": start, "end": end, "step": (s_from, s_to, s_drop),
                "last_above": last_above, "todo": sorted(set(todo))}

    rounds = 0
    state = analyse()
    while state["todo"] and rounds < max_rounds and len(acc) < max_evaluations:
        new = []
        for a, b in state["todo"]:
            step = max(1, (b - a) // SUBDIVIDE)
            new += list(range(a + step, b, step))
        evaluate(new)
        rounds += 1
        state = analyse()
    ks = sorted(acc)
    start, end = state["start"], state["end"]
    s_from, s_to, s_drop = state["step"]
    width = (end - start) / scale
    return {
        "baseline_accuracy": a0,
        "resolution": resolution,
        "threshold": threshold,
        "threshold_accuracy": level,
        "region": [region[0] / scale, region[1] / scale],
        "region_accuracy": [a_hi, a_lo],
        "depth": depth,
        "cliff_start": start / scale,
        "cliff_end": end / scale,
        "cliff_start_accuracy": acc[start],
        "cliff_end_accuracy": acc[end],
        "cliff_width": width,
        "sharpness_points_per_pct": (acc[start] - acc[end]) / (100 * width) if width else None,
        "largest_step": {"from": s_from / scale, "to": s_to / scale, "drop": s_drop},
        "last_above_threshold": (state["last_above"] / scale
                                 if state["last_above"] is not None else None),
        "refinement_rounds": rounds,
        "converged": not state["todo"],
        "evaluations": len(acc),
        "coarse": [[k / scale, acc[k]] for k in grid],
        "points": [[k / scale, acc[k]] for k in ks],
    }


def cliff_point(params: dict[str, Any]) -> dict[str, Any]:
    """Trial: whole-model pruning to `sparsity` (+ optional fine-tuning) -> validation
    accuracy (fine-tuning early-stops on the same split); with `final_test` also the test
    accuracy (`test_accuracy`) of the finished model, for reporting only."""
    ctx = context_from(params)
    model = ctx.copy_model()
    s = float(params["sparsity"])
    seed = int(params.get("seed", 0))
    if s > 0:
        prune_in_place(model, ctx, uniform_config(params.get("method", "magnitude"), s,
                                                  params.get("scope", "global"), seed))
    info = {}
    epochs = int(params.get("finetune_epochs", 0))
    if epochs > 0:
        cfg = finetune_cfg(ctx, epochs, float(params.get("finetune_lr", 1e-4)),
                           params.get("train_limit"), seed)
        info = finetune(model, ctx, cfg)
    out = {"accuracy": accuracy(model, ctx.val), "finetune": info}
    if params.get("final_test"):  # a final number (e.g. a benchmark's baseline), never selection
        out["test_accuracy"] = accuracy(model, ctx.test)
    return out


def point_params(ctx: Context, *, method: str, scope: str, finetune_epochs: int,
                 finetune_lr: float, train_limit: int | None, seed: int,
                 data_dir: str | Path | None, eval_limit: int | None,
                 test_limit: int | None = None) -> dict[str, Any]:
    base = {**context_params(ctx, data_dir, eval_limit, test_limit), "method": method,
            "scope": scope, "seed": seed}
    if finetune_epochs > 0:
        base.update(finetune_epochs=finetune_epochs, finetune_lr=finetune_lr,
                    train_limit=train_limit)
    return base


def sweep_evaluator(base: dict[str, Any], sweep_dir: str | Path, show_progress: bool = True,
                    description: str = "cliff") -> Callable[[list[float]], list[float]]:
    def evaluate_many(sparsities: list[float]) -> list[float]:
        pts = [{**base, "sparsity": round(s, 6)} for s in sparsities]
        res = run_points("tinydeploy.analysis.cliff:cliff_point", pts, sweep_dir,
                         show_progress=show_progress, description=description)
        return [r["accuracy"] for r in res]

    return evaluate_many


def run(
    ctx: Context,
    *,
    sweep_dir: str | Path,
    method: str = "magnitude",
    scope: str = "global",
    coarse: Sequence[float] | None = None,
    resolution: float = 0.001,
    threshold: float = 0.95,
    finetune_epochs: int = 0,
    finetune_lr: float = 1e-4,
    train_limit: int | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    eval_limit: int | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    uniform_config(method, 0.5, scope)  # validate the scope before any work
    base = point_params(ctx, method=method, scope=scope, finetune_epochs=finetune_epochs,
                        finetune_lr=finetune_lr, train_limit=train_limit, seed=seed,
                        data_dir=data_dir, eval_limit=eval_limit)
    result = locate_cliff(evaluate_many=sweep_evaluator(base, sweep_dir, show_progress),
                          coarse=coarse, resolution=resolution, threshold=threshold)
    return {"kind": KIND, "config": {"method": method, "scope": scope, "seed": seed,
                                     "finetune_epochs": finetune_epochs,
                                     "finetune_lr": finetune_lr, "train_limit": train_limit},
            "provenance": provenance(ctx), **result}


def plots(data: dict[str, Any]) -> dict[str, bytes]:
    plt = figure()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    pts = data["points"]
    coarse = data["coarse"]
    start, end = data["cliff_start"], data["cliff_end"]
    step = data["largest_step"]
    for ax, zoom in zip(axes, (False, True), strict=True):
        xs = [100 * s for s, _ in pts]
        ax.plot(xs, [a for _, a in pts], "-", lw=1, color="C0", label="all points")
        ax.plot([100 * s for s, _ in coarse], [a for _, a in coarse], "o", ms=4, color="C0",
                label="coarse grid")
        ax.axvspan(100 * start, 100 * end, color="C3", alpha=0.15, label="cliff (10-90%)")
        ax.axvline(100 * step["from"], color="C3", lw=1, ls="--",
                   label=f"largest step -{step['drop']:.1f} pts")
        ax.axhline(data["threshold_accuracy"], color="gray", ls=":",
                   label=f"{100 * data['threshold']:.0f}% of dense")
        ax.set_xlabel("sparsity (%)")
        ax.set_ylabel("validation top-1 (%)")
        ax.grid(alpha=0.3)
        if zoom:
            pad = max(1.0, 100 * (end - start))
            ax.set_xlim(100 * start - pad, 100 * end + pad)
            ax.set_title("zoom on the cliff")
        else:
            cfg = data["config"]
            ft = f", {cfg['finetune_epochs']} ft epochs" if cfg.get("finetune_epochs") else ""
            ax.set_title(f"{cfg['method']} {cfg['scope']}{ft}")
            ax.legend(fontsize=7)
    return {"curve": png(fig)}


def markdown(data: dict[str, Any]) -> str:
    step = data["largest_step"]
    rows = [
        ["dense validation top-1", f"{data['baseline_accuracy']:.2f}%"],
        ["cliff start -> end", f"{pct(data['cliff_start'])} ({data['cliff_start_accuracy']:.2f}%)"
         f" -> {pct(data['cliff_end'])} ({data['cliff_end_accuracy']:.2f}%)"],
        ["cliff width", pct(data["cliff_width"])],
        ["sharpness", "n/a" if data["sharpness_points_per_pct"] is None
         else f"{data['sharpness_points_per_pct']:.2f} points per 1% sparsity"],
        ["largest single step", f"-{step['drop']:.2f} points between {pct(step['from'])} and "
                                f"{pct(step['to'])}"],
        [f"last sparsity >= {100 * data['threshold']:.0f}% of dense",
         pct(data["last_above_threshold"])],
        ["evaluations / refinement rounds",
         f"{data['evaluations']} / {data['refinement_rounds']}"
         + ("" if data["converged"] else " (not converged)")],
    ]
    cfg = data["config"]
    coarse = md_table(["sparsity", "validation top-1 %"],
                      [[pct(s, 0), a] for s, a in data["coarse"]])
    return "\n\n".join([
        "# Accuracy cliff",
        f"`{cfg['method']}` pruning, scope `{cfg['scope']}`, fine-tuning epochs per point: "
        f"{cfg['finetune_epochs']}; resolution {pct(data['resolution'])}; "
        f"{images_text(data['provenance'])}; accuracies are validation top-1.",
        md_table(["", "value"], rows),
        "## Coarse curve", coarse,
        f"Plot: `{KIND}_curve.png`; every evaluated point: `{KIND}.json`.",
    ]) + "\n"
