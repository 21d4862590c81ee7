"""`tinydeploy prune` as library functions.

`prune_experiment` runs one pruning experiment in memory (load, prune, fine-tune, evaluate,
report); `prune_checkpoint` also writes the run directory: the pruned checkpoint
(`model.safetensors` + `model.json`), `prune_report.json` and `prune_report.md`, each
written atomically, nothing overwritten without `force`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tinydeploy.checkpoint import fingerprint, load_checkpoint, save_checkpoint
from tinydeploy.data import ImageDataset, load_dataset
from tinydeploy.errors import TinydeployError
from tinydeploy.models.registry import (
    ModelSpec,
    build_model,
    count_parameters,
    require_classifier,
)
from tinydeploy.prune import masks as masks_mod
from tinydeploy.prune import structured
from tinydeploy.prune.criteria import Batch
from tinydeploy.prune.engine import PruneConfig, prune_model
from tinydeploy.prune.recipes import Recipe
from tinydeploy.prune.report import log_warnings, report_markdown, sparsity_report
from tinydeploy.prune.schedules import (
    CALIBRATION_IMAGES,
    PruneData,
    Schedule,
    finetune_config,
    qat_phase,
    run_schedule,
)
from tinydeploy.rundir import ensure_writable, write_json_atomic, write_text_atomic
from tinydeploy.train.distill import Distillation
from tinydeploy.train.evaluate import evaluate
from tinydeploy.train.loaders import eval_loader, to_float
from tinydeploy.train.recipes import recipe_for
from tinydeploy.train.run import make_loaders
from tinydeploy.train.trainer import TrainConfig, seed_everything, train

OUTPUT_FILES = ["model.safetensors", "model.json", "prune_report.json", "prune_report.md"]
WHEN = ("trained", "init")


@dataclass
class PruneOutcome:
    model: nn.Module
    meta: dict[str, Any]
    report: dict[str, Any]
    markdown: str


@lru_cache(maxsize=4)
def _dataset(name: str, data_dir: str | None) -> ImageDataset:
    return load_dataset(name, data_dir)


def score_batch(images: torch.Tensor, labels: torch.Tensor, n: int, seed: int) -> Batch:
    """A seeded random batch of `n` training images for data-driven criteria."""
    idx = np.sort(np.random.default_rng(seed).permutation(len(labels))[:n])
    idx_t = torch.from_numpy(idx)
    return Batch(to_float(images[idx_t]), labels[idx_t])


def base_train_config(meta: dict[str, Any], dataset: str) -> TrainConfig:
    tc = meta.get("train_config")
    if tc:
        fields = TrainConfig.__dataclass_fields__
        return TrainConfig(**{k: v for k, v in tc.items() if k in fields})
    return recipe_for(dataset)


def recipe_train_config(recipe: Recipe, base: TrainConfig) -> TrainConfig:
    """The fine-tuning TrainConfig of a recipe: plain Adam at a constant rate, or the
    checkpoint's own optimizer on the last `epochs` epochs of its LR schedule (rewinding)."""
    base = replace(base, weight_average=recipe.weight_average)
    if recipe.augment == "none":
        base = replace(base, shift=0, rotate=0.0, scale=0.0, hflip=False, erase=0.0)
    if recipe.lr_schedule == "rewind":
        return replace(base, epochs=recipe.epochs, schedule_epochs=max(base.epochs, recipe.epochs),
                       patience=recipe.patience, restore_best=True)
    cfg = finetune_config(base, epochs=recipe.epochs, lr=recipe.lr, patience=recipe.patience)
    return replace(cfg, schedule="cosine") if recipe.lr_schedule == "cosine" else cfg


def prune_experiment(
    *,
    checkpoint: str | Path | None = None,
    model: nn.Module | None = None,
    meta: dict[str, Any] | None = None,
    cfg: PruneConfig,
    schedule: Schedule | None = None,
    finetune_epochs: int = 10,
    finetune_lr: float = 1e-4,
    when: str = "trained",
    train_epochs: int | None = None,
    rewind_epoch: int = 0,
    physically_remove: bool = False,
    data_dir: str | Path | None = None,
    dataset_name: str | None = None,
    train_limit: int | None = None,
    test_limit: int | None = None,
    score_samples: int = 256,
    seed: int | None = None,
    pre_prune: Sequence[PruneConfig] = (),
    extra_meta: Mapping[str, Any] | None = None,
    recipe: Recipe | None = None,
    teacher: nn.Module | str | Path | None = None,
    log: Callable[[str], None] | None = None,
    progress=None,
) -> PruneOutcome:
    """Prune a checkpoint (or a given model + meta) and return the model, metadata and report.

    when="init" re-creates the checkpoint's initial weights (same seed), prunes them
    (foresight pruning) and trains the masked model with the checkpoint's training recipe
    (`train_epochs` epochs, default the recipe's); when="trained" prunes the trained weights
    and fine-tunes (`finetune_epochs`, Adam lr 1e-4, early stopping on validation).
    `pre_prune`: configs applied (in order, one-shot) before `cfg`, e.g. N:M on some layers
    and unstructured on others as a latency-aware allocation chose; `extra_meta` is merged
    into the checkpoint metadata.
    `recipe` (`tinydeploy.prune.recipes`), when given, replaces `schedule`, `finetune_epochs`
    and `finetune_lr`: LR rewinding, distillation from `teacher` (a module or a checkpoint
    path; default: the checkpoint's model before pruning), a QAT phase, SR-STE N:M training.
    Without it the fine-tuning is plain (Adam at `finetune_lr`), as the analyses and older
    sweeps use it.
    """
    if recipe is None:
        recipe = Recipe("plain", schedule=str(schedule or Schedule()), epochs=finetune_epochs,
                        lr=finetune_lr)
    elif cfg.gran.kind == "nm" and recipe.mask_learning == "fixed" and \
            Schedule.parse(recipe.schedule).kind != "oneshot":
        # a recipe's ramp cannot reach an N:M pattern step by step: its masks are made at once
        recipe = recipe.with_overrides(schedule="oneshot")
    schedule = Schedule.parse(recipe.schedule)
    if when not in WHEN:
        raise TinydeployError(f"unknown --at {when!r}; choose trained or init")
    if checkpoint is not None:
        model, meta = load_checkpoint(checkpoint)
    if model is None or meta is None:
        raise TinydeployError("give a checkpoint (or a model and its metadata)")
    if masks_mod.is_pruned(model) and when == "init":
        raise TinydeployError("--at init needs an unpruned checkpoint")
    spec = ModelSpec.from_dict(meta["model"])
    require_classifier(model, spec.name, "tinydeploy prune (fine-tuning, evaluation)")
    dataset_name = dataset_name or meta.get("dataset")
    if not dataset_name:
        raise TinydeployError("the checkpoint names no dataset; pass one")
    dataset = _dataset(dataset_name, None if data_dir is None else str(data_dir))
    base = base_train_config(meta, dataset_name)
    split_seed = base.seed  # the checkpoint's validation hold-out, whatever `seed` is
    seed = base.seed if seed is None else seed
    base = replace(base, seed=seed, train_limit=train_limit)
    tests = eval_loader(dataset, limit=test_limit)
    dense = evaluate(model, tests, dataset.num_classes)
    teacher, teacher_record = _distillation_teacher(teacher, recipe, model, spec)
    if when == "init":
        seed_everything(seed)
        model = build_model(spec)
    seed_everything(seed)
    cfg = replace(cfg, seed=seed)
    ft = recipe_train_config(recipe, base)
    if when == "init":  # train from scratch with the model's own recipe
        ft = replace(base, epochs=train_epochs or base.epochs)
    elif schedule.kind == "lottery":  # rewound weights are retrained with the recipe
        ft = replace(base, epochs=recipe.epochs)
    objective = None
    if recipe.distill:
        objective = Distillation(teacher, temperature=recipe.distill_temperature,
                                 weight=recipe.distill_weight,
                                 label_smoothing=ft.label_smoothing)
    train_loader, val_loader = make_loaders(dataset, ft, split_seed=split_seed)
    data = PruneData(train_loader, val_loader,
                     score_batch(train_loader.images, train_loader.labels, score_samples, seed),
                     spec.input_shape,
                     # QAT measures its ranges on the images `tinydeploy export` calibrates on
                     torch.from_numpy(dataset.train_images[:CALIBRATION_IMAGES]))
    for extra in pre_prune:
        prune_model(model, replace(extra, seed=seed), data.score_batch,
                    input_shape=data.input_shape, log=log)
    rewind = None
    if schedule.kind == "lottery":
        rewind = _rewind_state(spec, base, seed, rewind_epoch, data, log, progress)
    start = time.perf_counter()
    sched = run_schedule(model, cfg, schedule, data, ft, rewind_state=rewind,
                         objective=objective, mask_learning=recipe.mask_learning,
                         srste_decay=recipe.srste_decay, nm_ramp=recipe.nm_ramp, log=log,
                         progress=progress)
    if recipe.qat_epochs:
        sched.rounds.append(qat_phase(model, data, ft, epochs=recipe.qat_epochs,
                                      lr=recipe.qat_lr, objective=objective, log=log,
                                      progress=progress))
    seconds = time.perf_counter() - start
    unit = "channels" if cfg.gran.kind == "channel" else "weights"
    report = sparsity_report(model, spec.input_shape, sched.requested,
                             requested_global=cfg.sparsity if cfg.scope == "global"
                             and cfg.gran.kind != "nm" else None,
                             requested_unit=unit,
                             collapse_min=max(cfg.prevent_collapse, 1))
    removed = None
    if physically_remove:
        model, removed = structured.physically_remove(model)
    result = evaluate(model, tests, dataset.num_classes)
    # what a caller choosing among pruned models may select on (never the test numbers)
    val_top1 = (evaluate(model, data.val_loader, dataset.num_classes).top1
                if data.val_loader is not None else None)
    log_warnings(report, log)
    hooks = [structured.RESTORE_HOOK] if physically_remove else [masks_mod.RESTORE_HOOK]
    meta_out = {
        "kind": "pruned",
        "model": spec.to_dict(),
        "dataset": dataset_name,
        "seed": seed,
        "train_config": base.to_dict(),
        "parent": {"checkpoint": str(checkpoint) if checkpoint else None,
                   "test_top1": dense.top1, "test_top5": dense.top5},
        "prune": {"config": cfg.to_dict(), "schedule": str(schedule), "when": when,
                  "recipe": recipe.to_dict(), "teacher": teacher_record,
                  "finetune": ft.to_dict(), "rewind_epoch": rewind_epoch,
                  "physically_removed": removed, "rounds": sched.rounds,
                  "mask_checks": sched.mask_checks, "seconds": seconds},
        "val_top1": val_top1,
        "test_top1": result.top1,
        "test_top5": result.top5,
        "test_samples": result.num_samples,
        "restore_hooks": hooks,
        **(extra_meta or {}),
    }
    report = {**report, "accuracy": {"dense_top1": dense.top1, "dense_top5": dense.top5,
                                     "pruned_top1": result.top1, "pruned_top5": result.top5,
                                     "test_samples": result.num_samples,
                                     "selected_on": "validation split (never test)"},
              "config": meta_out["prune"]}
    title = (f"Pruning report: {cfg.method} {cfg.scope} {cfg.granularity} {schedule}, "
             f"recipe {recipe.name}")
    md = report_markdown(report, title, {
        "test top-1 dense -> pruned": f"{dense.top1:.2f}% -> {result.top1:.2f}%",
        "test top-5 dense -> pruned": f"{dense.top5:.2f}% -> {result.top5:.2f}%",
        "pruned when": when,
        "fine-tune rounds": len(sched.rounds),
        "optimizer steps checked by the mask guard": sched.mask_checks,
    })
    return PruneOutcome(model, meta_out, report, md)


def _distillation_teacher(teacher: nn.Module | str | Path | None, recipe: Recipe,
                          model: nn.Module, spec: ModelSpec) -> tuple[nn.Module | None, Any]:
    """The teacher to distill from (default: a copy of the model before pruning) and how the
    report names it; a teacher whose outputs do not match the student's is refused here
    rather than as a shape error in the first training step."""
    if not recipe.distill:
        if teacher is not None:
            raise TinydeployError("a distillation teacher was given but the recipe does not "
                                  "distill; add --distill")
        return None, None
    if teacher is None:
        return copy.deepcopy(model), "the checkpoint before pruning"
    if isinstance(teacher, (str, Path)):
        record: dict[str, Any] = {"checkpoint": str(teacher), "sha256_12": fingerprint(teacher)}
        teacher = load_checkpoint(teacher)[0]
    else:
        record = {"class": type(teacher).__name__}
    with torch.no_grad():
        got = tuple(teacher.eval()(torch.zeros(1, *spec.input_shape)).shape)
    if got != (1, spec.num_classes):
        raise TinydeployError(f"the distillation teacher's output has shape {got}, the "
                              f"student's (1, {spec.num_classes}): it must be trained on the "
                              "same classes")
    record["parameters"] = count_parameters(teacher)
    return teacher, record


def _rewind_state(spec, base: TrainConfig, seed: int, rewind_epoch: int, data: PruneData,
                  log, progress) -> dict[str, torch.Tensor]:
    """The unpruned state to rewind to: the init (same seed as the original training) or
    the init trained for `rewind_epoch` epochs of the training recipe."""
    seed_everything(seed)
    model = build_model(spec)
    if rewind_epoch > 0:
        train(model, data.train_loader, data.val_loader, replace(base, epochs=rewind_epoch),
              progress=progress, log=log)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def prune_checkpoint(*, out: Path, force: bool = False, **kwargs) -> PruneOutcome:
    """`prune_experiment` + write the run directory (all files atomic)."""
    out = Path(out)
    ensure_writable(out, OUTPUT_FILES, force=force)
    outcome = prune_experiment(**kwargs)
    write_outcome(out, outcome)
    return outcome


def write_outcome(out: Path, outcome: PruneOutcome) -> None:
    """The run directory of one pruning experiment: checkpoint and reports (all atomic)."""
    save_checkpoint(outcome.model, Path(out) / "model", outcome.meta, force=True)
    write_json_atomic(Path(out) / "prune_report.json", outcome.report)
    write_text_atomic(Path(out) / "prune_report.md", outcome.markdown)
