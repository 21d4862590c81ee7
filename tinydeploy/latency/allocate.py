"""Budgeted allocation: per layer, the pruning option that costs the least accuracy while the
whole model fits an instruction budget (a multiple-choice knapsack, solved exactly by
dynamic programming over the cost in steps of `resolution` instructions).

An option is a granularity and sparsity (unstructured at s, or N:M) with the weight format
that runs it fastest on the target: its cost is predicted from the measured cost table, its
penalty is the validation loss increase when that layer alone is pruned that way. Penalties
are summed across layers (the usual additive approximation of sensitivity-based allocation);
fine-tuning afterwards recovers most of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from tinydeploy.errors import TinydeployError
from tinydeploy.latency.table import CostTable, formats_for


@dataclass(frozen=True)
class LayerOption:
    granularity: str  # "unstructured" or "nm:N:M"
    sparsity: float
    format: str
    instructions: float  # predicted from the cost table
    penalty: float  # validation loss increase with this layer alone pruned so (sensitivity)

    def to_dict(self) -> dict:
        return asdict(self)


def option_key(granularity: str, sparsity: float) -> str:
    return granularity if granularity.startswith("nm") else f"unstructured@{sparsity:g}"


def layer_options(layer: str, table: CostTable, penalties: Mapping[str, float],
                  allowed: Sequence[str] | None = None) -> list[LayerOption]:
    """Every option of one layer that has a penalty, each in its fastest format (among
    `allowed`, default every format the kernels run for the layer's shape)."""
    formats = [f for f in formats_for(table.shapes[layer]) if allowed is None or f in allowed]
    out = []
    for key, penalty in penalties.items():
        if key.startswith("nm"):
            n, m = (int(v) for v in key.split(":")[1:])
            s = 1.0 - n / m
            cands = [f for f in (f"nm{n}_{m}", "csr", "csrd", "dense") if f in formats]
            granularity = key
        else:
            s = float(key.split("@")[1])
            cands = [f for f in ("dense", "csr", "csrd") if f in formats]
            granularity = "unstructured"
        if not cands:
            continue
        cost, fmt = min((table.predict(layer, f, s), f) for f in cands)
        out.append(LayerOption(granularity, s, fmt, cost, float(penalty)))
    return out


@dataclass(frozen=True)
class Allocation:
    choice: dict[str, LayerOption]
    predicted_total: float  # incl. the fixed cost of the layers no option changes
    penalty: float
    budget: float

    def to_dict(self) -> dict:
        return {"budget": self.budget, "predicted_total": round(self.predicted_total, 1),
                "penalty_sum": round(self.penalty, 4),
                "layers": {k: v.to_dict() for k, v in self.choice.items()}}


def allocate(options: Mapping[str, Sequence[LayerOption]], budget: float, fixed: float = 0.0,
             resolution: float = 100.0) -> Allocation:
    """The options (one per layer) of least total penalty whose predicted instructions plus
    `fixed` stay within `budget`; ties go to the faster plan."""
    names = list(options)
    if not names or any(not options[n] for n in names):
        raise TinydeployError("every layer needs at least one option")
    cheapest = fixed + sum(min(o.instructions for o in options[n]) for n in names)
    if cheapest > budget:
        raise TinydeployError(
            f"no allocation fits {budget:,.0f} instructions: the fastest one the cost table "
            f"allows needs {cheapest:,.0f}; raise the budget (or add sparser options)")
    capacity = int((budget - fixed) // resolution)
    # best[c] = (penalty, instructions, picks) using at most c steps over the layers so far
    best: dict[int, tuple[float, float, tuple[int, ...]]] = {0: (0.0, 0.0, ())}
    for n in names:
        nxt: dict[int, tuple[float, float, tuple[int, ...]]] = {}
        for used, (pen, ins, picks) in best.items():
            for i, o in enumerate(options[n]):
                c = used + int(-(-o.instructions // resolution))  # round up: never over
                if c > capacity:
                    continue
                cand = (pen + o.penalty, ins + o.instructions, (*picks, i))
                if c not in nxt or cand[:2] < nxt[c][:2]:
                    nxt[c] = cand
        best = nxt
    if not best:
        raise TinydeployError(f"no allocation fits {budget:,.0f} instructions at a resolution "
                              f"of {resolution:g}; raise the budget")
    pen, ins, picks = min(best.values(), key=lambda v: (v[0], v[1]))
    choice = {n: options[n][i] for n, i in zip(names, picks, strict=True)}
    return Allocation(choice, fixed + ins, pen, budget)


def fastest_formats(graph, table: CostTable,
                    allowed: Sequence[str] = ("dense", "csr", "csrd")) -> dict[str, str]:
    """{op name: format} that runs each weighted op of an (already pruned) graph fastest on
    the table's core at the op's own sparsity, by the measured table of the same layer shapes
    (matched in execution order: the table may come from the dense export of the model).
    The default formats are the ones any unstructured pattern fits; N:M formats need weights
    pruned to that pattern."""
    ops = graph.weighted_ops()
    layers = list(table.shapes)
    if len(ops) != len(layers):
        raise TinydeployError(f"the graph has {len(ops)} weighted ops, the cost table "
                              f"{len(layers)} layers")
    out = {}
    for op, layer in zip(ops, layers, strict=True):
        w = op.weights
        sparsity = 1.0 - float((w != 0).sum()) / w.size
        cands = [f for f in formats_for(table.shapes[layer]) if f in allowed]
        # past the table's sparsest point sparse formats only get cheaper: clamp to choose
        s = min(sparsity, max(x for fmt in cands for x, _ in table.points[(layer, fmt)]))
        out[op.name] = min(cands, key=lambda f: table.predict(layer, f, s))
    return out
