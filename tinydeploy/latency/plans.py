"""Candidate plans for one instruction budget, of which latency-aware pruning keeps the one
with the best validation accuracy after fine-tuning.

The knapsack (`allocate`) ranks options by an estimate of what each layer loses when pruned
alone; that estimate misjudges what fine-tuning later recovers (it underrates how much a
fully connected layer at 95-98% loses, for one). So besides the knapsack plan, the budget
can be met by the sparsity profiles of the usual criteria, each scaled to the budget: the
least sparsity `s` at which uniform (every layer at `s`), global magnitude or LAMP pruning
fits the budget by the measured cost table, every layer in its fastest format. Each candidate
is pruned and fine-tuned with the same recipe; validation accuracy decides, never the test
set.

A profile is realised as per-layer magnitude pruning at the profile's per-layer sparsities:
within one layer, global magnitude and LAMP keep the largest weights (LAMP's score is
monotone in magnitude inside a layer), so the masks are the ones those criteria choose.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from tinydeploy.errors import TinydeployError, unknown_choice
from tinydeploy.latency.allocate import (
    UNSTRUCTURED_FORMATS,
    Allocation,
    LayerOption,
    fastest_option,
)

KNAPSACK = "knapsack"
# profile name -> (criterion, scope) whose per-layer sparsities it copies
PROFILES: dict[str, tuple[str, str]] = {"uniform": ("magnitude", "layerwise"),
                                        "global-magnitude": ("magnitude", "global"),
                                        "lamp": ("lamp", "global")}
PLAN_KINDS = (KNAPSACK, *PROFILES)
MAX_PROFILE_SPARSITY = 0.99


def check_plan_kinds(kinds: Sequence[str]) -> list[str]:
    if not kinds:
        raise TinydeployError("give at least one latency plan kind")
    for k in kinds:
        if k not in PLAN_KINDS:
            raise unknown_choice("latency plan", k, PLAN_KINDS)
    return list(dict.fromkeys(kinds))


def profile_sparsities(model, layers: Sequence[str], kind: str,
                       sparsity: float) -> dict[str, float]:
    """{layer: sparsity} that `kind`'s criterion and scope give at overall `sparsity` (the
    model is copied, not pruned)."""
    from tinydeploy.prune.engine import PruneConfig, prune_model
    from tinydeploy.prune.masks import current_mask, prunable_layers

    criterion, scope = PROFILES[kind]
    if scope == "layerwise":
        return dict.fromkeys(layers, sparsity)
    work = copy.deepcopy(model)
    prune_model(work, PruneConfig(method=criterion, scope=scope, sparsity=sparsity,
                                  layers=tuple(layers)))
    found = prunable_layers(work)
    return {t: 1.0 - float(current_mask(found[t]).float().mean()) for t in layers}


def profile_allocation(problem, model, kind: str, budget: float,
                       formats: Sequence[str] | None = None, steps: int = 30) -> Allocation:
    """The least overall sparsity of profile `kind` whose plan fits `budget` (bisection: a
    profile's per-layer sparsities, and so its cost, only grow with the overall sparsity)."""
    layers = list(problem.mapping)

    def plan(s: float) -> tuple[dict[str, LayerOption], float]:
        per_layer = profile_sparsities(model, layers, kind, s)
        choice = {t: fastest_option(problem.table, problem.mapping[t], "unstructured",
                                    per_layer[t], UNSTRUCTURED_FORMATS, formats,
                                    past_grid=True)
                  for t in layers}
        if any(o is None for o in choice.values()):
            raise TinydeployError("no dense or unstructured sparse format allowed for "
                                  + ", ".join(t for t, o in choice.items() if o is None))
        return choice, problem.fixed + sum(o.instructions for o in choice.values())

    choice, total = plan(MAX_PROFILE_SPARSITY)
    if total > budget:
        raise TinydeployError(f"the {kind} profile needs {total:,.0f} instructions even at "
                              f"{MAX_PROFILE_SPARSITY:.0%} sparsity; budget {budget:,.0f}")
    lo, hi = 0.0, MAX_PROFILE_SPARSITY
    for _ in range(steps):
        mid = (lo + hi) / 2
        c, t = plan(mid)
        if t <= budget:
            hi, choice, total = mid, c, t
        else:
            lo = mid
    return Allocation(choice, total, 0.0, budget)


def plan_identity(alloc: Allocation) -> tuple:
    """What makes two plans the same pruned model (formats aside)."""
    return tuple((t, o.granularity, round(o.sparsity, 4)) for t, o in alloc.choice.items())


def candidate_plans(problem, model, kinds: Sequence[str], budget: float | None = None,
                    speedup: float | None = None, max_flash: float | None = None,
                    max_ram: float | None = None, formats: Sequence[str] | None = None,
                    log: Callable[[str], None] = print) -> list[tuple[list[str],
                                                                      Allocation,
                                                                      dict[str, Any]]]:
    """[(kinds that gave it, allocation, provenance)] for every distinct plan; a plan that
    cannot reach the budget is left out (with a log line: profiles read past the cost
    table's sparsest point, the knapsack does not), and none reaching it is an error.
    Profiles take an instruction budget (or speed-up) only."""
    kinds = check_plan_kinds(kinds)
    profiles = [k for k in kinds if k != KNAPSACK]
    if profiles and (max_flash is not None or max_ram is not None):
        raise TinydeployError(f"latency plans {', '.join(profiles)} take an instruction "
                              "budget only; use --latency-plans knapsack with --max-flash "
                              "or --max-ram")
    target = budget if budget is not None else (
        problem.dense_total / float(speedup) if speedup else problem.dense_total)
    out: dict[tuple, tuple[list[str], Allocation, dict[str, Any]]] = {}
    if KNAPSACK in kinds:
        try:
            alloc, info = problem.solve(budget, speedup, max_flash, max_ram, log)
            out[plan_identity(alloc)] = ([KNAPSACK], alloc, info)
        except TinydeployError as exc:
            # below the knapsack's sparsest options a profile may still fit
            if not profiles or "no allocation fits" not in str(exc):
                raise
            log(f"latency: plan knapsack left out: {exc}")
    if profiles and target >= problem.dense_total:
        log(f"latency: the dense model fits {target:,.0f} instructions; profile plans "
            "are not pruned versions of it")
        profiles = []
    for kind in profiles:
        try:
            alloc = profile_allocation(problem, model, kind, target, formats)
        except TinydeployError as exc:
            log(f"latency: plan {kind} left out: {exc}")
            continue
        key = plan_identity(alloc)
        if key in out:
            out[key][0].append(kind)
            continue
        info = problem.describe(alloc, target, speedup)
        out[key] = ([kind], alloc, info)
        log(f"latency: plan {kind}: predicted {alloc.predicted_total:,.0f} instructions "
            "(" + ", ".join(f"{t} {o.sparsity:.3f} {o.format}"
                            for t, o in alloc.choice.items()) + ")")
    if not out:
        raise TinydeployError(f"no allocation fits {target:,.0f} instructions: no candidate "
                              f"plan ({', '.join(kinds)}) reaches it")
    return list(out.values())


def best_on_validation(results: Sequence[tuple[float, float, Any]]) -> int:
    """Index of the best of [(validation top-1, predicted instructions, anything)]: the most
    accurate on validation, ties to the faster plan."""
    if not results:
        raise TinydeployError("no candidate plan was fine-tuned")
    return max(range(len(results)), key=lambda i: (results[i][0], -results[i][1]))
