"""The allocation problem of latency-aware pruning, measured once and solved per budget.

`latency_problem` does steps 1-3 of `tinydeploy.latency.prune`: export the dense checkpoint to
int8 TFLite (the layer shapes the C generator runs), measure the cost table and the dense
model on the board, and score every layer option on the validation split.
`LatencyProblem.solve` does step 4 for one budget (instructions, and optionally flash and
RAM), so a search over budgets (the accuracy floor) measures nothing twice.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinydeploy.errors import TinydeployError
from tinydeploy.latency.allocate import (
    UNSTRUCTURED_FORMATS,
    Allocation,
    FlashBudget,
    LayerOption,
    allocate,
    layer_options,
    option_key,
)
from tinydeploy.latency.channels import ChannelPlan, channel_options, channel_plan
from tinydeploy.latency.ram import RamBudget, plan_arena, plan_ram
from tinydeploy.latency.sensitivity import layer_penalties, penalties_to_json
from tinydeploy.latency.shapes import LayerShape, layer_params, layer_shapes
from tinydeploy.latency.table import CostTable, build_table


def check_targets(budget: float | None, speedup: float | None, max_flash: float | None,
                  max_ram: float | None, min_accuracy: float | None = None) -> None:
    """What latency-aware pruning aims for, checked before anything is measured: an
    instruction budget or a speed-up (not both), a flash or RAM bound, or an accuracy floor
    (not with a budget or speed-up)."""
    if budget is not None and speedup is not None:
        raise TinydeployError("give --budget (instructions) or --speedup, not both")
    if min_accuracy is not None and (budget is not None or speedup is not None):
        raise TinydeployError("give --min-accuracy or --budget/--speedup, not both")
    if all(v is None for v in (budget, speedup, max_flash, max_ram, min_accuracy)):
        raise TinydeployError("give --budget (instructions), --speedup, --max-flash, "
                              "--max-ram or --min-accuracy")


def dense_measurement(graph, board: str) -> dict[str, Any]:
    """The benchmark report of the dense model on `board` (`per_layer_counts`: {weighted op:
    instructions})."""
    from tinydeploy.codegen.generator import generate_c
    from tinydeploy.latency.measure import run_generated

    gen = generate_c(graph, "dense", provenance="dense reference for latency allocation")
    return run_generated(gen, board)


def flash_budget(limit: float, dense_report: dict[str, Any], table: CostTable,
                 layers: list[str]) -> FlashBudget:
    """What of the dense firmware's flash no option changes: its total less the weighted
    layers' dense weight bytes and less all tdnn code, of which the functions no weighted
    layer's dense choice links stay as fixed kernels (pooling, add, requantisation shared
    by all)."""
    flash = dense_report["flash_bytes"]
    linked = dict(dense_report["kernel_text_bytes"])
    layer_kernels = set()
    for layer in layers:
        layer_kernels |= set(table.kernels(layer, "dense"))
    weights = sum(table.predict_weight_bytes(layer, "dense") for layer in layers)
    fixed = flash["total"] - weights - sum(linked.values())
    return FlashBudget(float(limit), float(fixed),
                       {k: v for k, v in linked.items() if k not in layer_kernels})


def int8_graph(checkpoint: Path, data_dir, log: Callable[[str], None]):
    from tinydeploy.export.pipeline import ExportConfig, export
    from tinydeploy.ir import read_tflite

    with tempfile.TemporaryDirectory(prefix="td-lat-export-") as tmp:
        out = Path(tmp) / "export"
        export(out=out, cfg=ExportConfig(to="tflite", calib_images=200, eval_limit=100),
               checkpoint=checkpoint, data_dir=data_dir, log=lambda m: None)
        log("latency: exported the dense model to int8 TFLite for its layer shapes")
        return read_tflite(out / "model_int8.tflite")


def _layer_map(model, graph) -> dict[str, str]:
    """PyTorch layer name -> weighted op of the int8 graph, matched in execution order."""
    from tinydeploy.prune.masks import prunable_layers

    layers = prunable_layers(model)
    ops = graph.weighted_ops()
    kinds = {"Conv2d": "CONV_2D", "Linear": "FULLY_CONNECTED"}
    if len(layers) != len(ops) or any(kinds.get(type(module).__name__) != op.kind
                                      for module, op in zip(layers.values(), ops, strict=False)):
        raise TinydeployError("the model's Conv2d/Linear layers do not match the exported "
                              "graph's weighted ops one to one; latency-aware pruning needs "
                              "a plain feed-forward model")
    return {t: op.name for t, op in zip(layers, ops, strict=True)}


@dataclass
class LatencyProblem:
    """Everything an allocation needs that does not depend on the budget: the measured cost
    table and dense model, and every layer's options scored on the validation split. Solve
    it for as many budgets as you like (the accuracy-floor search does)."""

    board: str
    graph: Any  # the dense int8 graph the generator runs
    table: CostTable
    mapping: dict[str, str]  # PyTorch layer -> weighted op of the int8 graph
    shapes: dict[str, LayerShape]
    dense: dict[str, Any]  # the dense model's benchmark report on the board
    options: dict[str, list[LayerOption]]
    penalties: dict[str, dict[str, float]]
    drops: dict[str, dict[str, float]]
    val_loader: Any
    num_classes: int
    penalty: str = "fisher"  # how options are scored (latency.sensitivity.PENALTIES)
    channels: ChannelPlan | None = None  # channel removal offered (latency.channels)

    @property
    def dense_total(self) -> float:
        return self.dense["measured"]["per_inference"][f"{self.table.unit}_mean"]

    @property
    def fixed(self) -> float:
        """Instructions of the ops no option changes (input, pools, softmax...)."""
        layers = self.dense["per_layer_counts"]
        return self.dense_total - sum(layers[op] for op in self.mapping.values())

    @property
    def fastest(self) -> float:
        """The fewest instructions any allocation reaches."""
        return self.fixed + sum(min(o.instructions for o in opts)
                                for opts in self.options.values())

    def solve(self, budget: float | None = None, speedup: float | None = None,
              max_flash: float | None = None, max_ram: float | None = None,
              log: Callable[[str], None] = print) -> tuple[Allocation, dict[str, Any]]:
        """The allocation within `budget` instructions (or dense / `speedup`; with only
        `max_flash` (bytes, the whole image) or `max_ram` (peak bytes), no slower than dense)
        and its provenance."""
        check_targets(budget, speedup, max_flash, max_ram)
        if speedup is not None:
            if speedup <= 1.0:
                raise TinydeployError(f"--speedup must be > 1, got {speedup}")
            budget = self.dense_total / speedup
        if budget is None:  # a flash or RAM budget alone: no slower than dense
            budget = self.dense_total * 1.001
        flash = (flash_budget(max_flash, self.dense, self.table, list(self.mapping.values()))
                 if max_flash is not None else None)
        options, ram = self.options, None
        if max_ram is not None:
            ram = RamBudget.from_dense(max_ram, self.dense, plan_arena(self.graph, {}))
            options = self._fitting_ram(ram)
        alloc = allocate(options, float(budget), self.fixed, flash=flash)
        predicted_ram = None
        if ram is not None:
            predicted_ram = plan_ram(ram, self.graph, self.table, {
                self.mapping[t]: (o.format, o.sparsity) for t, o in alloc.choice.items()})
            if predicted_ram > ram.limit:  # the arena planner packs a mix less tightly
                raise TinydeployError(f"the allocation within --max-ram {ram.limit:,.0f} B "
                                      f"needs {predicted_ram:,.0f} B once its layers' scratch "
                                      "is planned together; raise --max-ram")
        info = self.describe(alloc, float(budget), speedup, max_flash, ram, predicted_ram)
        for t, o in alloc.choice.items():
            log(f"latency: {t}: {o.granularity} {o.sparsity:.3f} as {o.format}, predicted "
                f"{o.instructions:,.0f} instructions (alone: estimated loss +{o.penalty:.4f}, "
                f"measured top-1 {-self.drops[t][option_key(o.granularity, o.sparsity)]:+.2f})")
        log(f"latency: predicted {alloc.predicted_total:,.0f} instructions (budget "
            f"{budget:,.0f}; dense measured {self.dense_total:,.0f})")
        if flash is not None:
            log(f"latency: predicted flash {alloc.predicted_flash:,.0f} B (limit "
                f"{max_flash:,.0f}; dense measured {self.dense['flash_bytes']['total']:,})")
        if ram is not None:
            log(f"latency: predicted peak RAM {predicted_ram:,.0f} B (limit {max_ram:,.0f}; "
                f"dense measured {self.dense['ram_bytes']['peak']:,})")
        return alloc, info

    def describe(self, alloc: Allocation, budget: float, speedup: float | None = None,
                 max_flash: float | None = None, ram: RamBudget | None = None,
                 predicted_ram: float | None = None) -> dict[str, Any]:
        """The provenance of `alloc` (what `latency_allocation.json` and the checkpoint keep):
        the problem it was solved in, every option, the plan and its predicted speed-up."""
        info = {
            "board": self.board, "unit": self.table.unit, "budget": budget,
            "speedup": speedup, "max_flash": max_flash, "dense_measured": self.dense_total,
            "dense_layers_measured": self.dense["per_layer_counts"],
            "dense_flash": self.dense["flash_bytes"]["total"],
            "fixed_instructions": self.fixed, "layer_map": self.mapping,
            "shapes": {t: self.shapes[op].label() for t, op in self.mapping.items()},
            "selection_split": "validation", "selection_images": len(self.val_loader.labels),
            "penalty": ("estimated validation loss increase of the weights an option "
                        "removes: 1/2 sum F_ii w_i^2, F = empirical Fisher diagonal on the "
                        "validation split" if self.penalty == "fisher" else
                        "squared magnitude of the weights an option removes: 1/2 sum w_i^2"),
            "penalty_kind": self.penalty,
            "penalties": penalties_to_json(self.penalties),
            "top1_drops": penalties_to_json(self.drops),
            "options": {t: [o.to_dict() for o in opts] for t, opts in self.options.items()},
            "allocation": alloc.to_dict(),
            "predicted_speedup": self.dense_total / alloc.predicted_total,
        }
        if self.channels is not None:
            info["channel_options"] = {op: [{"channel_sparsity": s, "kept": b} for s, b in k]
                                       for op, k in self.channels.kept.items()}
        if ram is not None:
            info["allocation"] |= {"max_ram": ram.limit, "predicted_ram": predicted_ram}
            info["dense_ram"] = self.dense["ram_bytes"]["peak"]
        return info

    def _fitting_ram(self, ram: RamBudget) -> dict[str, list[LayerOption]]:
        """Each layer's options that fit `ram` whatever the others choose: the arena with
        this layer at the option and every other layer at a low-scratch format (CSR), plus
        the deepest stack of any option. A format changes RAM only through its scratch."""
        low = {op: ("csr", 0.9) for op in self.mapping.values()}
        deepest = max(self.table.stack.get((self.mapping[t], o.format), 0)
                      for t, opts in self.options.items() for o in opts)
        arenas: dict[tuple[str, str, float], int] = {}
        out = {}
        for t, opts in self.options.items():
            op = self.mapping[t]
            fits = []
            for o in opts:
                key = (op, o.format, o.sparsity)
                if key not in arenas:
                    arenas[key] = plan_arena(self.graph, {**low, op: (o.format, o.sparsity)})
                if ram.fixed + arenas[key] + deepest <= ram.limit:
                    fits.append(o)
            if not fits:
                least = min(arenas[(op, o.format, o.sparsity)] for o in opts)
                raise TinydeployError(
                    f"no option of layer {t} fits --max-ram {ram.limit:,.0f} B: the smallest "
                    f"needs {ram.fixed + least + deepest:,.0f} B (arena {least:,} B)")
            out[t] = fits
        return out


def latency_problem(*, model, meta, checkpoint: Path, board: str, data_dir=None,
                    method: str = "magnitude", cache_dir: Path | None = None,
                    formats: list[str] | None = None, penalty: str = "fisher",
                    channel_sparsities: Sequence[float] = (),
                    log: Callable[[str], None] = print) -> LatencyProblem:
    """Steps 1-3 of the module docstring; with `channel_sparsities`, channel removal at those
    fractions of each layer's output channels is an option too (`tinydeploy.latency.channels`:
    the resized layers are measured as well)."""
    from tinydeploy.data import load_dataset
    from tinydeploy.prune.run import base_train_config
    from tinydeploy.train.run import make_loaders

    graph = int8_graph(checkpoint, data_dir, log)
    mapping = _layer_map(model, graph)
    shapes: dict[str, LayerShape] = layer_shapes(graph)
    log(f"latency: cost table of {len(shapes)} layer shapes on {board}: measuring the points "
        "not in the cache yet (each is keyed by the layer's int8 weights)")
    params = layer_params(graph)
    table: CostTable = build_table(shapes, board, params=params, cache_dir=cache_dir,
                                   formats=formats)
    plan = None
    if channel_sparsities:
        plan = channel_plan(model, mapping, shapes, channel_sparsities)
        table = _with_channel_rows(table, plan, shapes, params, board, cache_dir, formats, log)
    dense = dense_measurement(graph, board)
    dataset_name = meta.get("dataset")
    dataset = load_dataset(dataset_name, data_dir)
    _, val_loader = make_loaders(dataset, base_train_config(meta, dataset_name))
    if val_loader is None:
        raise TinydeployError("the checkpoint's recipe holds out no validation split "
                              "(val_size 0): latency-aware pruning selects on it")
    offered = ({t: [s for s, _ in plan.kept.get(op, [])] for t, op in mapping.items()}
               if plan else None)
    penalties, drops = layer_penalties(model, mapping, val_loader, method=method,
                                       penalty=penalty, channels=offered, progress=log)
    options = {t: layer_options(op, table, penalties[t], formats)
               for t, op in mapping.items()}
    if plan:
        for t, extra in channel_options(plan, table, mapping, penalties, formats).items():
            options[t] += extra
    return LatencyProblem(board, graph, table, mapping, shapes, dense, options, penalties,
                          drops, val_loader, dataset.num_classes, penalty, plan)


def _with_channel_rows(table: CostTable, plan: ChannelPlan, shapes, params, board: str,
                       cache_dir: Path | None, formats: list[str] | None,
                       log: Callable[[str], None]) -> CostTable:
    """`table` plus the rows of the resized layers channel removal leads to."""
    fewer_inputs, fewer_outputs = plan.rows()
    log(f"latency: {len(fewer_inputs) + len(fewer_outputs)} resized layer shapes for the "
        "channel options")
    for rows, fmts in ((fewer_inputs, [f for f in formats or UNSTRUCTURED_FORMATS
                                       if f in UNSTRUCTURED_FORMATS]),
                       (fewer_outputs, ["dense"])):
        if rows:
            resized = {name: plan.resized(shapes, *row) for name, row in rows.items()}
            sliced = {name: plan.sliced_params(params, shapes, *row)
                      for name, row in rows.items()}
            table.merge(build_table(resized, board, params=sliced, cache_dir=cache_dir,
                                    formats=fmts))
    return table
