"""Latency-aware pruning: per layer the sparsity, granularity and weight format that keep the
most validation accuracy within an instruction budget on the target core.

1. The checkpoint is exported to int8 TFLite once, so the layer shapes are the ones the C
   generator runs (fused pools included); the dense model is measured on the board.
2. The cost table of those shapes is built (measured on QEMU, cached by content hash).
3. Each layer's sensitivity to every option is measured on the validation split.
4. A multiple-choice knapsack picks one option per layer within the budget.
5. The model is pruned that way (N:M layers first, then the unstructured ones) and
   fine-tuned; the checkpoint records the allocation, and `tinydeploy export --to c` gives
   each layer the format the allocation chose.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinydeploy.errors import TinydeployError
from tinydeploy.latency.allocate import (
    Allocation,
    FlashBudget,
    LayerOption,
    allocate,
    layer_options,
    option_key,
)
from tinydeploy.latency.sensitivity import layer_penalties, penalties_to_json
from tinydeploy.latency.shapes import LayerShape, layer_params, layer_shapes
from tinydeploy.latency.table import CostTable, build_table
from tinydeploy.prune.engine import PruneConfig


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
    table: CostTable
    mapping: dict[str, str]  # PyTorch layer -> weighted op of the int8 graph
    shapes: dict[str, LayerShape]
    dense: dict[str, Any]  # the dense model's benchmark report on the board
    options: dict[str, list[LayerOption]]
    penalties: dict[str, dict[str, float]]
    drops: dict[str, dict[str, float]]
    val_loader: Any
    num_classes: int

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
              max_flash: float | None = None,
              log: Callable[[str], None] = print) -> tuple[Allocation, dict[str, Any]]:
        """The allocation within `budget` instructions (or dense / `speedup`; with only
        `max_flash` (bytes, the whole image), no slower than dense) and its provenance."""
        if budget is not None and speedup is not None:
            raise TinydeployError("give --budget (instructions) or --speedup, not both")
        if budget is None and speedup is None and max_flash is None:
            raise TinydeployError("give --budget (instructions), --speedup or --max-flash")
        if speedup is not None:
            if speedup <= 1.0:
                raise TinydeployError(f"--speedup must be > 1, got {speedup}")
            budget = self.dense_total / speedup
        if budget is None:  # a flash budget alone: no slower than dense
            budget = self.dense_total * 1.001
        flash = (flash_budget(max_flash, self.dense, self.table, list(self.mapping.values()))
                 if max_flash is not None else None)
        alloc = allocate(self.options, float(budget), self.fixed, flash=flash)
        info = {
            "board": self.board, "unit": self.table.unit, "budget": float(budget),
            "speedup": speedup, "max_flash": max_flash, "dense_measured": self.dense_total,
            "dense_layers_measured": self.dense["per_layer_counts"],
            "dense_flash": self.dense["flash_bytes"]["total"],
            "fixed_instructions": self.fixed, "layer_map": self.mapping,
            "shapes": {t: self.shapes[op].label() for t, op in self.mapping.items()},
            "selection_split": "validation", "selection_images": len(self.val_loader.labels),
            "penalty": "estimated validation loss increase of the weights an option removes: "
                       "1/2 sum F_ii w_i^2, F = empirical Fisher diagonal on the validation "
                       "split",
            "penalties": penalties_to_json(self.penalties),
            "top1_drops": penalties_to_json(self.drops),
            "options": {t: [o.to_dict() for o in opts] for t, opts in self.options.items()},
            "allocation": alloc.to_dict(),
            "predicted_speedup": self.dense_total / alloc.predicted_total,
        }
        for t, o in alloc.choice.items():
            log(f"latency: {t}: {o.granularity} {o.sparsity:.3f} as {o.format}, predicted "
                f"{o.instructions:,.0f} instructions (alone: estimated loss +{o.penalty:.4f}, "
                f"measured top-1 {-self.drops[t][option_key(o.granularity, o.sparsity)]:+.2f})")
        log(f"latency: predicted {alloc.predicted_total:,.0f} instructions (budget "
            f"{budget:,.0f}; dense measured {self.dense_total:,.0f})")
        if flash is not None:
            log(f"latency: predicted flash {alloc.predicted_flash:,.0f} B (limit "
                f"{max_flash:,.0f}; dense measured {self.dense['flash_bytes']['total']:,})")
        return alloc, info


def latency_problem(*, model, meta, checkpoint: Path, board: str, data_dir=None,
                    method: str = "magnitude", cache_dir: Path | None = None,
                    formats: list[str] | None = None,
                    log: Callable[[str], None] = print) -> LatencyProblem:
    """Steps 1-3 of the module docstring."""
    from tinydeploy.data import load_dataset
    from tinydeploy.prune.run import base_train_config
    from tinydeploy.train.run import make_loaders

    graph = int8_graph(checkpoint, data_dir, log)
    mapping = _layer_map(model, graph)
    shapes: dict[str, LayerShape] = layer_shapes(graph)
    log(f"latency: cost table of {len(shapes)} layer shapes on {board} (cached points reused)")
    table: CostTable = build_table(shapes, board, params=layer_params(graph),
                                   cache_dir=cache_dir, formats=formats)
    dense = dense_measurement(graph, board)
    dataset_name = meta.get("dataset")
    dataset = load_dataset(dataset_name, data_dir)
    _, val_loader = make_loaders(dataset, base_train_config(meta, dataset_name))
    if val_loader is None:
        raise TinydeployError("the checkpoint's recipe holds out no validation split "
                              "(val_size 0): latency-aware pruning selects on it")
    penalties, drops = layer_penalties(model, mapping, val_loader, method=method,
                                       progress=log)
    options = {t: layer_options(op, table, penalties[t], formats)
               for t, op in mapping.items()}
    return LatencyProblem(board, table, mapping, shapes, dense, options, penalties, drops,
                          val_loader, dataset.num_classes)


def plan_allocation(*, model, meta, checkpoint: Path, board: str, budget: float | None,
                    speedup: float | None, data_dir=None, method: str = "magnitude",
                    cache_dir: Path | None = None, formats: list[str] | None = None,
                    max_flash: float | None = None,
                    log: Callable[[str], None] = print) -> tuple[Allocation, dict[str, Any]]:
    """Steps 1-4 of the module docstring; returns the allocation and its provenance.
    `max_flash` (bytes, whole image: code + weights + the rest) also bounds the flash; with
    it alone the instruction budget is the dense model's."""
    if budget is not None and speedup is not None:  # before any measuring
        raise TinydeployError("give --budget (instructions) or --speedup, not both")
    if budget is None and speedup is None and max_flash is None:
        raise TinydeployError("give --budget (instructions), --speedup or --max-flash")
    problem = latency_problem(model=model, meta=meta, checkpoint=checkpoint, board=board,
                              data_dir=data_dir, method=method, cache_dir=cache_dir,
                              formats=formats, log=log)
    return problem.solve(budget, speedup, max_flash, log)


def prune_configs(alloc: Allocation, method: str) -> tuple[PruneConfig, list[PruneConfig]]:
    """(main config, configs applied before it) that realise the allocation."""
    configs = [PruneConfig(method=method, scope="layerwise", granularity=o.granularity,
                           layers=(t,))
               for t, o in alloc.choice.items() if o.granularity.startswith("nm")]
    unstructured = {t: o.sparsity for t, o in alloc.choice.items()
                    if o.granularity == "unstructured"}
    if unstructured:
        configs.append(PruneConfig(method=method, scope="explicit",
                                   layer_sparsity=unstructured))
    if not configs:
        raise TinydeployError("empty allocation")
    return configs[-1], configs[:-1]


def allocated_formats(meta: dict[str, Any], graph) -> dict[str, str] | None:
    """{graph op name: format} from a latency-aware checkpoint's metadata (None otherwise),
    re-matched to this graph's weighted ops in order."""
    info = meta.get("latency")
    if not info:
        return None
    layers = info["allocation"]["layers"]
    ops = [op.name for op in graph.weighted_ops()]
    if len(ops) != len(layers):
        raise TinydeployError("the checkpoint's latency allocation does not match the "
                              "exported graph's layers")
    order = list(info["layer_map"])
    return {op: layers[t]["format"] for t, op in zip(order, ops, strict=True)}


def latency_prune_checkpoint(*, checkpoint: Path, out: Path, board: str, budget: float | None,
                             speedup: float | None, method: str = "magnitude",
                             force: bool = False, cache_dir: Path | None = None,
                             formats: list[str] | None = None, data_dir=None,
                             max_flash: float | None = None,
                             min_accuracy: float | None = None, floor_probes: int = 4,
                             log: Callable[[str], None] = print, **prune_kwargs):
    """Plan the allocation, prune + fine-tune accordingly and write the run directory
    (checkpoint with the allocation in its metadata, prune report, latency_allocation.json).
    With `min_accuracy` (validation top-1 %) instead of a budget, the fewest instructions
    that keep it (`tinydeploy.latency.floor`, `floor_probes` fine-tunes). `prune_kwargs` go
    to `prune_experiment` (recipe or fine-tune epochs and lr, teacher, limits, seed)."""
    from tinydeploy.checkpoint import load_checkpoint
    from tinydeploy.latency.floor import search_floor
    from tinydeploy.prune import masks
    from tinydeploy.prune.run import OUTPUT_FILES, prune_experiment, write_outcome
    from tinydeploy.rundir import ensure_writable, write_json_atomic
    from tinydeploy.train.evaluate import evaluate

    out = Path(out)
    if min_accuracy is not None and (budget is not None or speedup is not None):
        raise TinydeployError("give --min-accuracy or --budget/--speedup, not both")
    if min_accuracy is None and budget is None and speedup is None and max_flash is None:
        raise TinydeployError("give --budget (instructions), --speedup, --max-flash or "
                              "--min-accuracy")
    ensure_writable(out, [*OUTPUT_FILES, "latency_allocation.json"], force=force)
    model, meta = load_checkpoint(checkpoint)
    if masks.is_pruned(model):
        raise TinydeployError("latency-aware pruning starts from a dense checkpoint")
    problem = latency_problem(model=model, meta=meta, checkpoint=Path(checkpoint),
                              board=board, data_dir=data_dir, method=method,
                              cache_dir=cache_dir, formats=formats, log=log)

    def run(alloc: Allocation, info: dict[str, Any]):
        cfg, pre = prune_configs(alloc, method)
        outcome = prune_experiment(checkpoint=checkpoint, cfg=cfg, pre_prune=pre,
                                   extra_meta={"latency": info}, data_dir=data_dir, log=log,
                                   **prune_kwargs)
        val = evaluate(outcome.model, problem.val_loader, problem.num_classes).top1
        return val, (outcome, info)

    if min_accuracy is None:
        alloc, info = problem.solve(budget, speedup, max_flash, log)
        _, (outcome, info) = run(alloc, info)
    else:
        dense_val = evaluate(model, problem.val_loader, problem.num_classes).top1
        if dense_val < min_accuracy:
            raise TinydeployError(f"the dense model reaches {dense_val:.2f}% validation top-1, "
                                  f"below --min-accuracy {min_accuracy:.2f}%")
        kept, tried = search_floor(
            lambda b: problem.solve(b, None, max_flash, log), run, min_accuracy=min_accuracy,
            fastest=problem.fastest, dense=problem.dense_total, probes=floor_probes, log=log)
        outcome, info = kept.result
        info["floor"] = {"min_accuracy": min_accuracy, "dense_val_top1": dense_val,
                         "probes": [p.to_dict() for p in tried],
                         "kept_probe": tried.index(kept), "kept_budget": kept.budget}
        outcome.meta["latency"] = info
    write_outcome(out, outcome)
    write_json_atomic(out / "latency_allocation.json", info)
    return outcome, info
