"""Latency-aware pruning: per layer the sparsity, granularity and weight format that keep the
most validation accuracy within an instruction budget on the target core.

1. The checkpoint is exported to int8 TFLite once, so the layer shapes are the ones the C
   generator runs (fused pools included); the dense model is measured on the board.
2. The cost table of those shapes is built (measured on QEMU, cached by content hash).
3. Each layer's sensitivity to every option is measured on the validation split.
4. A multiple-choice knapsack picks one option per layer within the budget; with more
   `plans` (`tinydeploy.latency.plans`), the uniform / global-magnitude / LAMP sparsity
   profiles scaled to the budget are candidates too, each fine-tuned, and the one with the
   best validation accuracy is kept.
5. The model is pruned that way (N:M layers first, then the unstructured ones) and
   fine-tuned; the checkpoint records the allocation, and `tinydeploy export --to c` gives
   each layer the format the allocation chose.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tinydeploy.errors import TinydeployError
from tinydeploy.latency.allocate import Allocation
from tinydeploy.latency.channels import CHANNEL, check_channel_sparsities, whole_layer_sparsity
from tinydeploy.latency.problem import check_targets, latency_problem
from tinydeploy.prune.engine import PruneConfig


def prune_configs(alloc: Allocation, method: str,
                  out_channels: Mapping[str, int] | None = None
                  ) -> tuple[PruneConfig, list[PruneConfig]]:
    """(main config, configs applied before it) that realise the allocation (see
    `realised_plan` for `out_channels`)."""
    return plan_configs(realised_plan(alloc, out_channels), method)


def realised_plan(alloc: Allocation, out_channels: Mapping[str, int] | None = None
                  ) -> dict[str, tuple[str, float]]:
    """{layer: (granularity, sparsity to prune it to)}. After a channel removal a layer's
    sparsity is the table row's (of the columns still read); it becomes the sparsity over
    the whole masked layer, which needs `out_channels` {layer: output channels before
    pruning}."""
    plan, previous = {}, None
    for t, o in alloc.choice.items():
        s = o.sparsity
        if o.inputs and o.granularity == "unstructured":
            if out_channels is None or previous is None:
                raise TinydeployError("a plan with channel removal needs the layers' channels")
            s = whole_layer_sparsity(s, o.inputs, out_channels[previous])
        plan[t] = (o.granularity, s)
        previous = t
    return plan


def removes_channels(alloc: Allocation) -> bool:
    return any(o.granularity == CHANNEL for o in alloc.choice.values())


def out_channels_of(problem) -> dict[str, int]:
    """{PyTorch layer: output channels before pruning} of a `LatencyProblem`."""
    return {t: problem.shapes[op].out_c for t, op in problem.mapping.items()}


def plan_configs(plan: Mapping[str, tuple[str, float]],
                 method: str) -> tuple[PruneConfig, list[PruneConfig]]:
    """The same from {layer: (granularity, sparsity)}: channel removals first (they mask the
    next layer's inputs too), then N:M layers, one config each, then every unstructured
    layer at its sparsity in one explicit config."""
    configs = [PruneConfig(method=method, scope="layerwise", granularity=g, sparsity=s,
                           layers=(t,)) for t, (g, s) in plan.items() if g == CHANNEL]
    configs += [PruneConfig(method=method, scope="layerwise", granularity=g, layers=(t,))
                for t, (g, _) in plan.items() if g.startswith("nm")]
    unstructured = {t: s for t, (g, s) in plan.items() if g == "unstructured"}
    if unstructured:
        configs.append(PruneConfig(method=method, scope="explicit",
                                   layer_sparsity=unstructured))
    if not configs:
        raise TinydeployError("empty allocation")
    return configs[-1], configs[:-1]


def latency_prune_checkpoint(*, checkpoint: Path, out: Path, board: str, budget: float | None,
                             speedup: float | None, method: str = "magnitude",
                             force: bool = False, cache_dir: Path | None = None,
                             formats: list[str] | None = None, data_dir=None,
                             max_flash: float | None = None, max_ram: float | None = None,
                             min_accuracy: float | None = None, floor_probes: int = 4,
                             penalty: str = "fisher", plans: Sequence[str] = ("knapsack",),
                             channel_sparsities: Sequence[float] = (),
                             log: Callable[[str], None] = print, **prune_kwargs):
    """Plan the allocation, prune + fine-tune accordingly and write the run directory
    (checkpoint with the allocation in its metadata, prune report, latency_allocation.json).
    With `min_accuracy` (validation top-1 %) instead of a budget, the fewest instructions
    that keep it (`tinydeploy.latency.floor`, `floor_probes` fine-tunes). With
    `channel_sparsities`, removing those fractions of a layer's output channels is an option
    too; a plan that removes channels is saved physically smaller. `prune_kwargs` go
    to `prune_experiment` (recipe or fine-tune epochs and lr, teacher, limits, seed)."""
    from tinydeploy.checkpoint import load_checkpoint
    from tinydeploy.errors import unknown_choice
    from tinydeploy.latency.floor import search_floor
    from tinydeploy.latency.plans import (
        KNAPSACK,
        best_on_validation,
        candidate_plans,
        check_plan_kinds,
    )
    from tinydeploy.latency.sensitivity import PENALTIES
    from tinydeploy.prune import masks
    from tinydeploy.prune.run import OUTPUT_FILES, prune_experiment, write_outcome
    from tinydeploy.rundir import ensure_writable, write_json_atomic
    from tinydeploy.train.evaluate import evaluate

    out = Path(out)
    if penalty not in PENALTIES:
        raise unknown_choice("latency penalty", penalty, PENALTIES)
    check_targets(budget, speedup, max_flash, max_ram, min_accuracy)
    plans = check_plan_kinds(plans)
    check_channel_sparsities(channel_sparsities)
    if min_accuracy is not None and plans != [KNAPSACK]:
        raise TinydeployError("--min-accuracy searches knapsack plans only; drop "
                              "--latency-plans")
    ensure_writable(out, [*OUTPUT_FILES, "latency_allocation.json"], force=force)
    model, meta = load_checkpoint(checkpoint)
    if masks.is_pruned(model):
        raise TinydeployError("latency-aware pruning starts from a dense checkpoint")
    problem = latency_problem(model=model, meta=meta, checkpoint=Path(checkpoint),
                              board=board, data_dir=data_dir, method=method,
                              cache_dir=cache_dir, formats=formats, penalty=penalty,
                              channel_sparsities=channel_sparsities, log=log)
    out_channels = out_channels_of(problem)

    def run(alloc: Allocation, info: dict[str, Any]):
        cfg, pre = prune_configs(alloc, method, out_channels)
        outcome = prune_experiment(checkpoint=checkpoint, cfg=cfg, pre_prune=pre,
                                   physically_remove=removes_channels(alloc),
                                   extra_meta={"latency": info}, data_dir=data_dir, log=log,
                                   **prune_kwargs)
        val = evaluate(outcome.model, problem.val_loader, problem.num_classes).top1
        return val, (outcome, info)

    if min_accuracy is None:
        cands = candidate_plans(problem, model, plans, budget, speedup, max_flash, max_ram,
                                formats, log)
        tried = []
        for i, (kinds, alloc, info) in enumerate(cands):
            if len(cands) > 1:
                log(f"latency: fine-tuning plan {i + 1}/{len(cands)} ({', '.join(kinds)})")
            val, kept = run(alloc, info)
            tried.append((val, alloc.predicted_total, kept))
        best = best_on_validation(tried)
        outcome, info = tried[best][2]
        info["plans"] = [{"kinds": kinds, "predicted_total": round(alloc.predicted_total, 1),
                          "val_top1": val, "selected": i == best}
                         for i, ((kinds, alloc, _), (val, _, _)) in
                         enumerate(zip(cands, tried, strict=True))]
        outcome.meta["latency"] = info
        if len(cands) > 1:
            log(f"latency: kept plan {', '.join(cands[best][0])} (validation top-1 "
                f"{tried[best][0]:.2f}%)")
    else:
        dense_val = evaluate(model, problem.val_loader, problem.num_classes).top1
        if dense_val < min_accuracy:
            raise TinydeployError(f"the dense model reaches {dense_val:.2f}% validation top-1, "
                                  f"below --min-accuracy {min_accuracy:.2f}%")
        kept, tried = search_floor(
            lambda b: problem.solve(b, None, max_flash, max_ram, log), run,
            min_accuracy=min_accuracy, fastest=problem.fastest, dense=problem.dense_total,
            probes=floor_probes, log=log)
        outcome, info = kept.result
        info["floor"] = {"min_accuracy": min_accuracy, "dense_val_top1": dense_val,
                         "probes": [p.to_dict() for p in tried],
                         "kept_probe": tried.index(kept), "kept_budget": kept.budget}
        outcome.meta["latency"] = info
    write_outcome(out, outcome)
    write_json_atomic(out / "latency_allocation.json", info)
    return outcome, info
