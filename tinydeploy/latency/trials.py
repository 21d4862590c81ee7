"""Sweep trial (`tinydeploy.latency.trials:pruned_export`): one pruned, fine-tuned and
int8-exported model kept on disk, for benchmarks that then run it on several cores
(`benchmarks/latency/pareto.py`).

Either a plain criterion at one sparsity (`method`, `scope`, `sparsity`), latency-aware
pruning to an instruction budget on one board (`objective: latency`, `board`, `budget`), or
one given per-layer plan (`plan`: {layer: [granularity, sparsity]}, magnitude-pruned; see
`tinydeploy.latency.prune.realised_plan`; a plan with channel removal is saved physically
smaller), as a benchmark that weighs several candidate plans per budget trains each
distinct plan once.
The cost table of the board must already be measured (the benchmark builds it first): two
trials filling the same cache at once would measure the same points twice.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tinydeploy.errors import TinydeployError
from tinydeploy.export.pipeline import ExportConfig, export
from tinydeploy.prune.recipes import get_recipe


def pruned_export(p: dict[str, Any]) -> dict[str, Any]:
    """params: checkpoint, work_dir, recipe (+ recipe_overrides), data_dir, seed, eval_limit;
    then method, scope, sparsity | objective "latency", board, budget, cache_dir | plan.
    Returns the test accuracies (float, int8 on TFLite Micro), the int8 .tflite path and,
    for latency-aware pruning, the allocation; an infeasible budget is a result, not a
    failure."""
    from tinydeploy.latency.prune import latency_prune_checkpoint
    from tinydeploy.prune.run import prune_checkpoint
    from tinydeploy.prune.trials import trial_config

    work = Path(p["work_dir"])
    recipe = get_recipe(p.get("recipe", "recommended")).with_overrides(
        **p.get("recipe_overrides", {}))
    quiet = lambda _msg: None  # noqa: E731
    started = time.perf_counter()
    common = {"recipe": recipe, "data_dir": p.get("data_dir"), "seed": p.get("seed")}
    allocation = None
    if p.get("objective") == "latency":
        try:
            outcome, allocation = latency_prune_checkpoint(
                checkpoint=Path(p["checkpoint"]), out=work / "prune", board=p["board"],
                budget=float(p["budget"]), speedup=None, method=p.get("method", "magnitude"),
                force=True, cache_dir=Path(p["cache_dir"]) if p.get("cache_dir") else None,
                penalty=p.get("penalty", "fisher"), log=quiet, **common)
        except TinydeployError as exc:
            if "no allocation fits" not in str(exc):
                raise
            return {"infeasible": str(exc)}
    elif "plan" in p:
        from tinydeploy.latency.channels import CHANNEL
        from tinydeploy.latency.prune import plan_configs

        cfg, pre = plan_configs({t: (g, float(s)) for t, (g, s) in p["plan"].items()},
                                p.get("method", "magnitude"))
        removes = any(g == CHANNEL for g, _ in p["plan"].values())
        outcome = prune_checkpoint(out=work / "prune", force=True, checkpoint=p["checkpoint"],
                                   cfg=cfg, pre_prune=pre, physically_remove=removes,
                                   log=quiet, **common)
    else:
        outcome = prune_checkpoint(out=work / "prune", force=True, checkpoint=p["checkpoint"],
                                   cfg=trial_config(p), log=quiet, **common)
    prune_seconds = time.perf_counter() - started
    # force: a retried (or interrupted) trial re-exports into its own work directory
    result = export(out=work / "export",
                    cfg=ExportConfig(to="tflite", eval_limit=p.get("eval_limit")),
                    checkpoint=work / "prune" / "model.safetensors",
                    data_dir=p.get("data_dir"), force=True, log=quiet)
    report = outcome.report
    tfl = result.report["tflite"]
    return {
        "tflite": str((work / "export" / "model_int8.tflite").resolve()),
        "checkpoint": str((work / "prune" / "model").resolve()),
        "prune_seconds": round(prune_seconds, 1),
        "recipe": recipe.to_dict(),
        "achieved_sparsity": report["global"]["achieved_sparsity"],
        "layer_sparsity": {r["layer"]: r["achieved_sparsity"] for r in report["layers"]},
        "val_top1": outcome.meta.get("val_top1"),
        "float_top1": result.report["float_top1"],
        "int8_top1": tfl["tflm_top1"],
        "int8_eval_images": tfl["eval_images"],
        "allocation": allocation and {k: allocation[k] for k in (
            "allocation", "layer_map", "budget", "dense_measured", "predicted_speedup")},
    }
