"""An accuracy floor, the other way round from a budget: the fewest instructions whose
pruned and fine-tuned model still reaches `min_accuracy` top-1 on the validation split.

The search bisects the instruction budget (geometrically, between the fastest allocation the
cost table allows and the dense model) for a fixed number of probes. Every probe is a full
allocation + pruning + fine-tuning, since accuracy after fine-tuning is what the floor is
about and no sensitivity estimate predicts it well; the most pruned probe that reaches the
floor is kept. Nothing here reads the test set.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tinydeploy.errors import TinydeployError
from tinydeploy.latency.allocate import Allocation


@dataclass
class Probe:
    budget: float
    predicted: float  # instructions the allocation predicts
    val_top1: float
    result: Any = None  # what `run` returned beside the accuracy (the pruning outcome)

    def to_dict(self) -> dict[str, float]:
        return {"budget": round(self.budget, 1), "predicted_instructions": self.predicted,
                "val_top1": self.val_top1}


def search_floor(solve: Callable[[float], tuple[Allocation, dict[str, Any]]],
                 run: Callable[[Allocation, dict[str, Any]], tuple[float, Any]], *,
                 min_accuracy: float, fastest: float, dense: float, probes: int = 4,
                 log: Callable[[str], None] = print) -> tuple[Probe, list[Probe]]:
    """(the kept probe, every probe in order). `solve(budget)` allocates, `run(alloc, info)`
    prunes + fine-tunes and returns (validation top-1 %, anything to keep)."""
    if probes < 1:
        raise TinydeployError(f"the accuracy-floor search needs >= 1 probe, got {probes}")
    lo, hi = fastest, dense
    kept: Probe | None = None
    tried: list[Probe] = []
    for i in range(probes):
        budget = math.sqrt(lo * hi)
        alloc, info = solve(budget)
        val_top1, result = run(alloc, info)
        probe = Probe(budget, alloc.predicted_total, val_top1, result)
        tried.append(probe)
        ok = val_top1 >= min_accuracy
        log(f"latency floor: probe {i + 1}/{probes}: budget {budget:,.0f} -> validation top-1 "
            f"{val_top1:.2f}% ({'reaches' if ok else 'below'} {min_accuracy:.2f}%)")
        if ok:
            kept = probe if kept is None or probe.predicted < kept.predicted else kept
            hi = budget
        else:
            lo = budget
    if kept is None:
        best = max(tried, key=lambda p: p.val_top1)
        raise TinydeployError(
            f"no probe reached {min_accuracy:.2f}% validation top-1 (best {best.val_top1:.2f}% "
            f"at {best.predicted:,.0f} instructions); lower --min-accuracy or give more "
            "--floor-probes")
    return kept, tried
