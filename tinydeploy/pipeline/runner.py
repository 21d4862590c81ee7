"""`tinydeploy run`: train (or load) -> prune -> fine-tune -> export -> C -> firmware on the
target -> report, every stage cached by content hash in the run directory."""

from __future__ import annotations

import datetime as dt
import logging
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tinydeploy.pipeline.cache import StageCache, StageResult, file_digest
from tinydeploy.pipeline.config import RunConfig, VariantConfig
from tinydeploy.report import LayerRow, Report, Variant, write_report
from tinydeploy.rundir import git_revision

log = logging.getLogger("tinydeploy.run")


@dataclass
class RunContext:
    cfg: RunConfig
    run_dir: Path
    data_dir: Path | None
    cache: StageCache
    console: Console
    stages: list[StageResult] = field(default_factory=list)

    def stage(self, name: str, label: str, params: dict[str, Any], inputs: list[StageResult],
              build: Callable[[Path], dict[str, Any]]) -> StageResult:
        self.console.print(f"[bold cyan]▶ {escape(label)}[/]")
        log.info("stage %s (%s) params=%s", name, label, params)
        result = self.cache.run(name, params, inputs, build)
        how = "cached" if result.cached else f"done in {result.seconds:.1f}s"
        self.console.print(f"  [green]✓[/] {escape(label)}: {how} -> {result.path.name}")
        log.info("stage %s %s: %s", name, result.key, how)
        self.stages.append(result)
        return result

    def log_line(self, msg: str) -> None:
        self.console.print(f"    {escape(msg)}", highlight=False)
        log.info(msg)


def _train_stage(ctx: RunContext) -> StageResult:
    cfg = ctx.cfg
    if cfg.checkpoint:
        from tinydeploy.checkpoint import checkpoint_paths

        weights, meta = checkpoint_paths(cfg.checkpoint)
        if not weights.is_file():
            from tinydeploy.errors import TinydeployError

            raise TinydeployError(f"checkpoint {weights} not found")

        def load(tmp: Path) -> dict[str, Any]:
            shutil.copy(weights, tmp / "model.safetensors")
            shutil.copy(meta, tmp / "model.json")
            return {"checkpoint": "model.safetensors", "loaded_from": str(weights)}

        return ctx.stage("train", "load checkpoint", {"digest": file_digest(weights)}, [], load)

    from tinydeploy.train.recipes import recipe_for
    from tinydeploy.train.run import train_model

    train_cfg = recipe_for(cfg.dataset, seed=cfg.seed, **cfg.train)
    params = {"dataset": cfg.dataset, "model": cfg.model, "train": train_cfg.to_dict()}

    def build(tmp: Path) -> dict[str, Any]:
        outcome = train_model(dataset_name=cfg.dataset, data_dir=ctx.data_dir, cfg=train_cfg,
                              out=tmp, model_name=cfg.model, force=True, log=ctx.log_line)
        ctx.log_line(f"trained {cfg.model}: test accuracy {outcome.test.top1:.2f}% "
                     f"(top-5 {outcome.test.top5:.2f}%)")
        return {"checkpoint": "model.safetensors", "test_top1": outcome.test.top1}

    return ctx.stage("train", f"train {cfg.model} on {cfg.dataset} ({train_cfg.epochs} epochs)",
                     params, [], build)


def _prune_stage(ctx: RunContext, base: StageResult, v: VariantConfig) -> StageResult:
    if not v.pruned:
        return base
    from tinydeploy.prune.engine import PruneConfig
    from tinydeploy.prune.run import prune_checkpoint

    if v.objective == "latency":
        return _latency_prune_stage(ctx, base, v)
    prune_cfg = PruneConfig(method=v.method, sparsity=v.sparsity, scope=v.scope,
                            granularity=v.granularity, layers=v.layers, seed=ctx.cfg.seed)
    recipe = _variant_recipe(v)
    params = {"prune": prune_cfg.to_dict(), "recipe": recipe.to_dict()}

    def build(tmp: Path) -> dict[str, Any]:
        outcome = prune_checkpoint(
            out=tmp, force=True, checkpoint=base.path / base.outputs["checkpoint"],
            cfg=prune_cfg, recipe=recipe, data_dir=ctx.data_dir, log=ctx.log_line,
        )
        achieved = outcome.report.get("global", {}).get("achieved_sparsity")
        return {"checkpoint": "model.safetensors", "achieved_sparsity": achieved}

    amount = "" if v.granularity.startswith("nm") else f" {100 * v.sparsity:.0f}%"
    label = f"prune {v.name}: {v.method} {v.scope} {v.granularity}{amount}"
    return ctx.stage("prune", label, params, [base], build)


def _variant_recipe(v: VariantConfig):
    """The variant's named recipe (with its overrides), or plain fine-tuning from its
    schedule/epochs/lr."""
    from tinydeploy.prune.recipes import Recipe, get_recipe

    if v.recipe is not None:
        return get_recipe(v.recipe).with_overrides(**dict(v.recipe_overrides))
    return Recipe("plain", schedule=v.schedule, epochs=v.finetune_epochs, lr=v.finetune_lr)


def _latency_prune_stage(ctx: RunContext, base: StageResult, v: VariantConfig) -> StageResult:
    from tinydeploy.latency.measure import fingerprint
    from tinydeploy.latency.prune import latency_prune_checkpoint

    params = {"latency": {"board": ctx.cfg.board, "budget": v.budget, "speedup": v.speedup,
                          "method": v.method, "formats": v.latency_formats,
                          "kernels": fingerprint()},
              "recipe": _variant_recipe(v).to_dict(), "seed": ctx.cfg.seed}
    # only when set, so the stage keys of earlier runs stay valid
    for key in ("max_flash", "max_ram", "min_accuracy"):
        if getattr(v, key) is not None:
            params["latency"][key] = getattr(v, key)
    if tuple(v.latency_plans) != ("knapsack",):
        params["latency"]["plans"] = list(v.latency_plans)
    if v.latency_channels:
        params["latency"]["channels"] = list(v.latency_channels)

    def build(tmp: Path) -> dict[str, Any]:
        outcome, info = latency_prune_checkpoint(
            checkpoint=base.path / base.outputs["checkpoint"], out=tmp, force=True,
            board=ctx.cfg.board, budget=v.budget, speedup=v.speedup, method=v.method,
            formats=list(v.latency_formats) if v.latency_formats else None,
            max_flash=v.max_flash, max_ram=v.max_ram, min_accuracy=v.min_accuracy,
            plans=list(v.latency_plans), channel_sparsities=list(v.latency_channels),
            data_dir=ctx.data_dir,
            log=ctx.log_line, recipe=_variant_recipe(v), seed=ctx.cfg.seed)
        achieved = outcome.report.get("global", {}).get("achieved_sparsity")
        return {"checkpoint": "model.safetensors", "achieved_sparsity": achieved,
                "latency_allocation": "latency_allocation.json",
                "predicted_instructions": info["allocation"]["predicted_total"]}

    target = (f"budget {v.budget:,.0f}" if v.budget else
              f"{v.speedup}x fewer instructions" if v.speedup else
              f"validation top-1 >= {v.min_accuracy}%" if v.min_accuracy else "the dense speed")
    if v.max_flash is not None:
        target += f" within {v.max_flash:,} B of flash"
    return ctx.stage("prune", f"prune {v.name}: latency-aware ({v.method}) to {target} on "
                     f"{ctx.cfg.board}", params, [base], build)


def _export_stage(ctx: RunContext, model: StageResult, v: VariantConfig) -> StageResult:
    from tinydeploy.export.pipeline import ExportConfig, export

    ecfg = ExportConfig(to="tflite", calib_images=ctx.cfg.calib_images,
                        eval_limit=ctx.cfg.eval_limit)
    params = {"export": ecfg.__dict__.copy(), "dataset": ctx.cfg.dataset}

    def build(tmp: Path) -> dict[str, Any]:
        result = export(out=tmp / "export", cfg=ecfg, checkpoint=model.path / "model.safetensors",
                        data_dir=ctx.data_dir, force=True, log=ctx.log_line)
        tfl = result.report["tflite"]
        from tinydeploy.checkpoint import load_meta

        meta = load_meta(model.path / "model.safetensors")
        return {
            "latency": meta.get("latency"),  # the allocation, for the `allocated` format
            "tflite": "export/model_int8.tflite",
            "float_top1": result.report.get("float_top1"),
            "int8_tflm_top1": tfl["tflm_top1"],
            "int8_litert_top1": tfl["litert_top1"],
            "eval_images": tfl["eval_images"],
        }

    return ctx.stage("export", f"export {v.name}: ONNX -> int8 TFLite (+ TFLM accuracy)",
                     params, [model], build)


def _firmware_stage(ctx: RunContext, exported: StageResult, v: VariantConfig,
                    fmt: str) -> StageResult:
    from tinydeploy.firmware.bench import plan, run_plan
    from tinydeploy.firmware.boards import get_board
    from tinydeploy.firmware.build import BuildSettings
    from tinydeploy.firmware.fromtflite import model_dir_from_tflite
    from tinydeploy.latency.measure import fingerprint

    cfg = ctx.cfg
    # the firmware sources and compiler are inputs too: a kernel change re-measures
    params = {"format": fmt, "board": cfg.board, "samples": cfg.samples,
              "dataset": cfg.dataset, "auto_objective": cfg.auto_objective,
              "firmware": fingerprint(BuildSettings().opt)}

    def build(tmp: Path) -> dict[str, Any]:
        board = get_board(cfg.board)
        tflite = exported.path / exported.outputs["tflite"]
        layer_formats = None
        if fmt == "allocated":
            from tinydeploy.codegen.select import allocated_formats
            from tinydeploy.ir import read_tflite

            layer_formats = allocated_formats({"latency": exported.outputs.get("latency")},
                                              read_tflite(tflite))
            if layer_formats is None:
                from tinydeploy.errors import TinydeployError

                raise TinydeployError(f"variant {v.name}: format 'allocated' needs a "
                                      "latency-aware pruned model (objective = \"latency\")")
        gen = model_dir_from_tflite(tflite, tmp / "model",
                                    fmt="auto" if fmt == "allocated" else fmt,
                                    dataset=cfg.dataset, data_dir=ctx.data_dir,
                                    samples=cfg.samples, objective=cfg.auto_objective,
                                    layer_formats=layer_formats)
        settings = BuildSettings()
        bench_plan = plan(board, tmp / "model", tmp / "fw", samples=cfg.samples,
                          settings=settings)
        bench = run_plan(bench_plan, settings, progress=ctx.log_line)
        shutil.rmtree(tmp / "fw" / "pio", ignore_errors=True)  # build tree: large, rebuildable
        return {"bench": bench, "generator": gen["generator"],
                "host_int8_correct": gen["host_int8_correct"]}

    return ctx.stage("firmware", f"firmware {v.name} [{fmt}] on {cfg.board}: build + run "
                     f"{cfg.samples} images", params, [exported], build)


def _layer_rows(generator: dict[str, Any], bench: dict[str, Any],
                latency: dict[str, Any] | None = None) -> list[LayerRow]:
    """One row per weighted layer; with a latency-aware allocation (`latency`, in the same
    execution order) each row also holds the instructions the cost table predicted."""
    measured = {row["name"]: row for row in bench["measured"].get("per_layer", [])}
    predicted: list[float | None] = [None] * len(generator["layers"])
    if latency:
        chosen = latency["allocation"]["layers"]
        predicted = [chosen[t]["instructions"] for t in latency["layer_map"]]
    rows = []
    for layer, guess in zip(generator["layers"], predicted, strict=True):
        shape = layer["weight_shape"]
        executed = measured.get(layer["layer"])
        rows.append(LayerRow(
            name=layer["layer"], op=layer["op"], shape="x".join(map(str, shape)),
            params=math.prod(shape), nnz=layer["nnz"], format=layer["chosen"],
            bytes=layer["weight_bytes"], macs=layer["macs"], effective_macs=layer["nnz_macs"],
            latency=None if executed is None else executed[f"{bench['measured']['unit']}_mean"],
            predicted_latency=guess,
        ))
    return rows


def _variant_entry(v: VariantConfig, fmt: str, exported: StageResult,
                   fw: StageResult) -> Variant:
    bench, gen = fw.outputs["bench"], fw.outputs["generator"]
    measured = bench["measured"]
    unit = measured["unit"]
    sparsity = 1 - sum(r["nnz"] for r in gen["layers"]) / sum(
        math.prod(r["weight_shape"]) for r in gen["layers"])
    latency = exported.outputs.get("latency") if fmt == "allocated" else None
    group = (f"latency-aware ({v.method})" if v.objective == "latency" else
             (v.method or "none") + ("" if v.granularity == "unstructured"
                                     else f" {v.granularity}"))
    return Variant(
        id=f"{v.name}/{fmt}", method=v.method or "none", sparsity=round(sparsity, 4), format=fmt,
        group=group,
        accuracy_float=exported.outputs["float_top1"],
        accuracy_int8_host=exported.outputs["int8_tflm_top1"],
        accuracy_device=measured["accuracy"]["top1"],
        device_samples=measured["images"],
        output_mismatches=measured["expected_outputs"]["mismatch_images"],
        weight_bytes=bench["flash_bytes"]["weights"], code_bytes=bench["flash_bytes"]["code"],
        flash_total=bench["flash_bytes"]["total"], peak_ram=bench["ram_bytes"]["peak_model"],
        macs_dense=gen["total_macs"], macs_effective=sum(r["nnz_macs"] for r in gen["layers"]),
        latency_per_inference=measured["per_inference"][f"{unit}_mean"], latency_unit=unit,
        layers=_layer_rows(gen, bench, latency),
    )


def run_pipeline(cfg: RunConfig, run_dir: Path, *, data_dir: Path | None = None,
                 console: Console | None = None) -> Report:
    run_dir.mkdir(parents=True, exist_ok=True)
    # A wide console when not on a terminal keeps the summary table readable in logs and CI.
    console = console or Console(width=None if Console().is_terminal else 160)
    handler = logging.FileHandler(run_dir / "run.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    started = time.perf_counter()
    try:
        ctx = RunContext(cfg, run_dir, data_dir, StageCache(run_dir), console)
        base = _train_stage(ctx)
        variants: list[Variant] = []
        for v in cfg.variants:
            model = _prune_stage(ctx, base, v)
            exported = _export_stage(ctx, model, v)
            for fmt in v.formats:
                fw = _firmware_stage(ctx, exported, v, fmt)
                variants.append(_variant_entry(v, fmt, exported, fw))
        baseline = next((x.id for x in variants if x.method == "none" and x.format == "dense"),
                        variants[0].id)
        report = Report(
            run={"name": cfg.name, "dataset": cfg.dataset, "board": cfg.board,
                 "model": cfg.model, "device_samples": cfg.samples,
                 "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                 "git_revision": git_revision(), "config": cfg.to_dict()},
            variants=variants, baseline=baseline,
        )
        paths = write_report(report, run_dir / "report")
        elapsed = time.perf_counter() - started
        console.print(summary_table(report))
        console.print(f"report: {paths['html']}  ({elapsed:.1f}s; "
                      f"{sum(s.cached for s in ctx.stages)}/{len(ctx.stages)} stages cached)")
        log.info("run finished in %.1fs", elapsed)
        return report
    finally:
        log.removeHandler(handler)
        handler.close()


def summary_table(report: Report) -> Table:
    unit = report.variant(report.baseline).latency_unit
    table = Table(title=f"tinydeploy run {report.run.get('name', '')} on "
                        f"{report.run.get('board', '')}")
    for col in ("variant", "sparsity", "float %", "int8 host %", "device %", "flash B",
                "peak RAM B", f"{unit}/inf", "speed-up"):
        table.add_column(col, justify="right")
    for v in report.variants:
        d = report.deltas(v)
        table.add_row(
            v.id, f"{100 * v.sparsity:.1f}%", _f(v.accuracy_float), _f(v.accuracy_int8_host),
            _f(v.accuracy_device), f"{v.flash_total:,}", f"{v.peak_ram:,}",
            f"{v.latency_per_inference:,.0f}",
            "–" if d["speedup"] is None else f"{d['speedup']:.2f}x",
        )
    return table


def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"
