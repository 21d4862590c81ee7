"""Budgeted allocation: per layer, the pruning option that costs the least accuracy while the
whole model fits an instruction budget (a multiple-choice knapsack, solved exactly by
dynamic programming over the cost in steps of `resolution` instructions).

An option is a granularity and sparsity (unstructured at s, or N:M) with the weight format
that runs it fastest on the target: its cost is predicted from the measured cost table, its
penalty is the validation loss increase when that layer alone is pruned that way. Penalties
are summed across layers (the usual additive approximation of sensitivity-based allocation);
fine-tuning afterwards recovers most of it.

Channel removal (`tinydeploy.latency.channels`) couples two layers: an option that keeps b of
a layer's output channels leaves the next layer b input channels, so each option says which
input channels it assumes (`inputs`) and keeps (`outputs`), 0 meaning all of them, and the
dynamic programme only follows an option with one whose `inputs` match its `outputs`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace

from tinydeploy.errors import TinydeployError
from tinydeploy.latency.table import CostTable, formats_for

UNSTRUCTURED_FORMATS = ("dense", "csr", "csrd")  # the formats any unstructured mask fits


@dataclass(frozen=True)
class LayerOption:
    granularity: str  # "unstructured", "nm:N:M" or "channel" (sparsity: channels removed)
    sparsity: float
    format: str
    instructions: float  # predicted from the cost table
    penalty: float  # validation loss increase with this layer alone pruned so (sensitivity)
    weight_bytes: float | None = None  # flash of its weight arrays (cost table)
    kernels: tuple[tuple[str, int], ...] = ()  # tdnn functions it links: (name, code bytes)
    inputs: int = 0  # input channels it assumes the previous layer keeps (0: all)
    outputs: int = 0  # output channels it keeps (0: all; < all only for "channel")

    def to_dict(self) -> dict:
        return asdict(self)


def nm_sparsity(n: int, m: int, k: int) -> float:
    """Sparsity N:M pruning leaves in a row of k weights: n kept per full group of m and at
    most n in the last, partial group (a 3x3 conv on one channel, k = 9, at 1:8 keeps 2 of 9:
    77.8%, not 87.5%), which is what a sparse format then stores and runs."""
    full, rest = divmod(k, m)
    return 1.0 - (n * full + min(n, rest)) / k


def option_key(granularity: str, sparsity: float) -> str:
    return granularity if granularity.startswith("nm") else f"{granularity}@{sparsity:g}"


def layer_options(layer: str, table: CostTable, penalties: Mapping[str, float],
                  allowed: Sequence[str] | None = None, inputs: int = 0) -> list[LayerOption]:
    """Every unstructured and N:M option of one layer that has a penalty, each in its fastest
    format (among `allowed`, default every format the kernels run for the layer's shape).
    `layer` names the table's row, `inputs` the input channels that row assumes (0: all);
    with fewer inputs N:M is not offered (removing input columns breaks the groups)."""
    out = []
    for key, penalty in penalties.items():
        if key.startswith("channel") or (inputs and key.startswith("nm")):
            continue
        if key.startswith("nm"):
            n, m = (int(v) for v in key.split(":")[1:])
            option = fastest_option(table, layer, key, nm_sparsity(n, m, table.shapes[layer].k),
                                    (f"nm{n}_{m}", "csr", "csrd", "dense"), allowed, penalty)
        else:
            option = fastest_option(table, layer, "unstructured", float(key.split("@")[1]),
                                    UNSTRUCTURED_FORMATS, allowed, penalty)
        if option is not None:
            out.append(replace(option, inputs=inputs))
    return out


def fastest_option(table: CostTable, layer: str, granularity: str, sparsity: float,
                   candidates: Sequence[str], allowed: Sequence[str] | None = None,
                   penalty: float = 0.0, past_grid: bool = False) -> LayerOption | None:
    """`layer` pruned so, in the fastest of `candidates` the kernels run for its shape (and
    `allowed` permits); None if there is none. Past a sparse format's sparsest measured
    point the table refuses to extrapolate; with `past_grid` the cost is read there instead
    (a sparse format only gets cheaper: an upper bound)."""
    runs = formats_for(table.shapes[layer])
    cands = [f for f in candidates if f in runs and (allowed is None or f in allowed)]
    if not cands:
        return None

    def at(f: str, rows) -> float:
        return min(sparsity, max(s for s, _ in rows[(layer, f)])) if past_grid else sparsity

    cost, fmt = min((table.predict(layer, f, at(f, table.points)), f) for f in cands)
    wbytes = (table.predict_weight_bytes(layer, fmt, at(fmt, table.weight_bytes))
              if (layer, fmt) in table.weight_bytes else None)
    kernels = tuple(sorted(table.kernel_text.get((layer, fmt), {}).items()))
    return LayerOption(granularity, sparsity, fmt, cost, float(penalty), wbytes, kernels)


@dataclass(frozen=True)
class FlashBudget:
    """Flash the allocation may use: `limit` bytes in all, of which `fixed` are what no
    option changes (start-up, harness, generated code, other ops' weights) and `fixed_kernels`
    the tdnn functions linked whatever the layers choose (name -> bytes). A plan's flash is
    fixed + its weight bytes + the code of every function it links, each counted once."""

    limit: float
    fixed: float
    fixed_kernels: dict[str, int]

    def total(self, weight_bytes: float, kernels: frozenset[tuple[str, int]]) -> float:
        code = dict(self.fixed_kernels)
        code.update(dict(kernels))
        return self.fixed + weight_bytes + sum(code.values())


@dataclass(frozen=True)
class Allocation:
    choice: dict[str, LayerOption]
    predicted_total: float  # incl. the fixed cost of the layers no option changes
    penalty: float
    budget: float
    predicted_flash: float | None = None  # bytes, when a flash budget was given
    max_flash: float | None = None

    def to_dict(self) -> dict:
        out = {"budget": self.budget, "predicted_total": round(self.predicted_total, 1),
               "penalty_sum": round(self.penalty, 4),
               "layers": {k: v.to_dict() for k, v in self.choice.items()}}
        if self.max_flash is not None:
            out |= {"max_flash": self.max_flash, "predicted_flash": self.predicted_flash}
        return out


def allocate(options: Mapping[str, Sequence[LayerOption]], budget: float, fixed: float = 0.0,
             resolution: float = 100.0, flash: FlashBudget | None = None) -> Allocation:
    """The options (one per layer) of least total penalty whose predicted instructions plus
    `fixed` stay within `budget` (and whose flash stays within `flash.limit`); ties go to the
    faster plan.

    Dynamic programming over the layers; a state is the instructions used (in steps of
    `resolution`, rounded up) and, with a flash budget, the set of kernel functions linked so
    far. A state keeps every plan not dominated in (penalty, weight bytes), so the flash
    limit is checked exactly at the end, with shared kernels counted once."""
    names = list(options)
    if not names or any(not options[n] for n in names):
        raise TinydeployError("every layer needs at least one option")
    cheapest = fixed + sum(min(o.instructions for o in options[n]) for n in names)
    if cheapest > budget:
        raise TinydeployError(
            f"no allocation fits {budget:,.0f} instructions: the fastest one the cost table "
            f"allows needs {cheapest:,.0f}; raise the budget (or add sparser options)")
    if flash is not None and any(o.weight_bytes is None or not o.kernels
                                 for n in names for o in options[n]):
        raise TinydeployError("a flash budget needs the weight bytes and kernel code of every "
                              "option in the cost table; rebuild the table")
    capacity = int((budget - fixed) // resolution)
    Plan = tuple[float, float, float, tuple[int, ...]]  # penalty, instructions, bytes, picks
    # state: instructions used, kernels linked, output channels the last layer kept
    State = tuple[int, frozenset, int]
    best: dict[State, list[Plan]] = {(0, frozenset(), 0): [(0.0, 0.0, 0.0, ())]}
    for n in names:
        nxt: dict[State, list[Plan]] = {}
        for (used, kernels, kept), plans in best.items():
            for i, o in enumerate(options[n]):
                c = used + int(-(-o.instructions // resolution))  # round up: never over
                if c > capacity or o.inputs != kept:
                    continue
                key = (c, kernels | frozenset(o.kernels) if flash else kernels, o.outputs)
                wb = (o.weight_bytes or 0.0) if flash else 0.0
                for pen, ins, byt, picks in plans:
                    _keep_front(nxt.setdefault(key, []),
                                (pen + o.penalty, ins + o.instructions, byt + wb, (*picks, i)))
        best = nxt
    finals = [(plan, flash.total(plan[2], kernels) if flash else None)
              for (_, kernels, _), plans in best.items() for plan in plans]
    if flash is not None:
        finals = [(p, f) for p, f in finals if f <= flash.limit]
    if not finals:
        what = f"{budget:,.0f} instructions" + (f" and {flash.limit:,.0f} B of flash"
                                                 if flash else "")
        raise TinydeployError(f"no allocation fits {what} at a resolution of "
                              f"{resolution:g}; raise the budget")
    (pen, ins, _, picks), predicted_flash = min(finals, key=lambda v: (v[0][0], v[0][1]))
    choice = {n: options[n][i] for n, i in zip(names, picks, strict=True)}
    return Allocation(choice, fixed + ins, pen, budget, predicted_flash,
                      flash.limit if flash else None)


def _keep_front(plans: list, cand: tuple) -> None:
    """Add `cand` to `plans` unless one of them is at least as good in penalty, weight bytes
    and instructions; drop the ones it beats (without a flash budget the bytes are all 0 and
    one plan per state remains)."""
    for p in plans:
        if p[0] <= cand[0] and p[2] <= cand[2] and (p[0], p[1]) <= (cand[0], cand[1]):
            return
    plans[:] = [p for p in plans if not (cand[0] <= p[0] and cand[2] <= p[2]
                                         and (cand[0], cand[1]) <= (p[0], p[1]))]
    plans.append(cand)


def fastest_formats(graph, table: CostTable,
                    allowed: Sequence[str] = UNSTRUCTURED_FORMATS) -> dict[str, str]:
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
