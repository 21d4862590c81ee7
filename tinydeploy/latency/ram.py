"""RAM budgets for latency-aware pruning (`--max-ram`): what a plan's firmware needs at its
peak, predicted before anything is built.

A weight format changes RAM only through its kernel's scratch (planned into the activation
arena by the generator) and its stack depth. So a plan's peak is the dense firmware's peak
less the dense arena and stack, plus the arena the generator plans for the plan (computed
exactly, from weights sparsified to each layer's option) plus the deepest stack among the
chosen cost points (each measured on QEMU with its kernel).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tinydeploy.errors import TinydeployError
from tinydeploy.latency.sparsify import sparsify
from tinydeploy.latency.table import CostTable


@dataclass(frozen=True)
class RamBudget:
    limit: float
    fixed: float  # the dense firmware's peak RAM without its arena and stack

    @classmethod
    def from_dense(cls, limit: float, dense_report: dict[str, Any], dense_arena: int
                   ) -> RamBudget:
        ram = dense_report["ram_bytes"]
        return cls(float(limit), float(ram["peak"] - dense_arena - ram["stack_high_water"]))


def plan_arena(graph, choices: Mapping[str, tuple[str, float]]) -> int:
    """The activation arena (bytes) the C generator plans when each op named in `choices`
    runs in (format, sparsity), its weights magnitude-sparsified to that; the others dense."""
    from tinydeploy.codegen.generator import generate_c

    g = copy.deepcopy(graph)
    ops = {op.name: op for op in g.weighted_ops()}
    for name, (fmt, sparsity) in choices.items():
        op = ops[name]
        w2d = sparsify(op.weights.reshape(op.weights.shape[0], -1), fmt, sparsity)
        op.weights = w2d.reshape(op.weights.shape)
    gen = generate_c(g, "dense", layer_formats={n: f for n, (f, _) in choices.items()},
                     provenance="RAM prediction")
    return gen.arena_size


def plan_ram(budget: RamBudget, graph, table: CostTable,
             choices: Mapping[str, tuple[str, float]]) -> float:
    """Predicted peak RAM (bytes) of the firmware for `choices` ({op: (format, sparsity)},
    every weighted op of the graph, keyed like the table)."""
    stacks = []
    for name, (fmt, _) in choices.items():
        if (name, fmt) not in table.stack:
            raise TinydeployError(f"no stack depth measured for {name} in {fmt} on "
                                  f"{table.board}; rebuild the cost table")
        stacks.append(table.stack[(name, fmt)])
    return budget.fixed + plan_arena(graph, choices) + max(stacks)
