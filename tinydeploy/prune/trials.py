"""Sweep trial functions (`tinydeploy.prune.trials:after_training` / `:foresight`): one
pruning experiment from a JSON dict of parameters, returning JSON metrics. Used by the
benchmarks through `tinydeploy.sweep`."""

from __future__ import annotations

from typing import Any

from tinydeploy.models.registry import ModelSpec, build_model
from tinydeploy.prune.engine import PruneConfig, compression_to_sparsity
from tinydeploy.prune.recipes import Recipe, get_recipe
from tinydeploy.prune.run import _dataset, prune_experiment
from tinydeploy.prune.schedules import Schedule
from tinydeploy.train.recipes import recipe_for
from tinydeploy.train.trainer import seed_everything


def summary(outcome) -> dict[str, Any]:
    rep = outcome.report
    g = rep["global"]
    return {
        "test_top1": rep["accuracy"]["pruned_top1"],
        "test_top5": rep["accuracy"]["pruned_top5"],
        "dense_top1": rep["accuracy"]["dense_top1"],
        "test_samples": rep["accuracy"]["test_samples"],
        "requested_sparsity": g["requested_sparsity"],
        "achieved_sparsity": g["achieved_sparsity"],
        "requested_compression": g["requested_compression"],
        "achieved_compression": g["achieved_compression"],
        "compression_error": g["compression_error"],
        "nonzeros": g["nonzeros"],
        "effective_macs": g["effective_macs"],
        "dense_macs": g["dense_macs"],
        "layers": {r["layer"]: {"achieved_sparsity": r["achieved_sparsity"],
                                "nonzeros": r["nonzeros"]} for r in rep["layers"]},
        "warnings": rep["warnings"],
        "rounds": rep["config"]["rounds"],
        "seconds": rep["config"]["seconds"],
    }


def trial_config(p: dict[str, Any]) -> PruneConfig:
    sparsity = p.get("sparsity")
    if sparsity is None:
        sparsity = compression_to_sparsity(float(p["compression"])) if "compression" in p \
            else 0.0  # N:M: the sparsity follows from N and M
    layers = tuple(p["layers"]) if p.get("layers") else None
    return PruneConfig(method=p["method"], sparsity=float(sparsity), layers=layers,
                       scope=p.get("scope", "global"),
                       granularity=p.get("granularity", "unstructured"),
                       rounds=p.get("rounds"), prevent_collapse=int(p.get("prevent_collapse", 0)))


def trial_recipe(p: dict[str, Any]) -> Recipe | None:
    """params "recipe" (a name) + "recipe_overrides" (fields), or None: plain fine-tuning."""
    if "recipe" not in p:
        return None
    return get_recipe(p["recipe"]).with_overrides(**p.get("recipe_overrides", {}))


def after_training(p: dict[str, Any]) -> dict[str, Any]:
    """params: checkpoint, method, scope, sparsity | compression, granularity, layers,
    schedule, finetune_epochs, finetune_lr (or recipe + recipe_overrides), train_limit,
    test_limit, data_dir, seed, rounds, score_samples."""
    outcome = prune_experiment(
        checkpoint=p["checkpoint"], cfg=trial_config(p),
        schedule=Schedule.parse(p.get("schedule", "oneshot")),
        finetune_epochs=int(p.get("finetune_epochs", 10)),
        finetune_lr=float(p.get("finetune_lr", 1e-4)), recipe=trial_recipe(p),
        data_dir=p.get("data_dir"), train_limit=p.get("train_limit"),
        test_limit=p.get("test_limit"), score_samples=int(p.get("score_samples", 256)),
        seed=p.get("seed"),
    )
    return summary(outcome)


def foresight(p: dict[str, Any]) -> dict[str, Any]:
    """Prune at initialization, then train. params: dataset, method, compression | sparsity,
    scope, train_epochs, train_limit, test_limit, data_dir, seed, rounds."""
    dataset_name = p.get("dataset", "mnist")
    data = _dataset(dataset_name, p.get("data_dir"))
    seed = int(p.get("seed", 0))
    spec = ModelSpec(input_shape=data.input_shape, num_classes=data.num_classes)
    recipe = recipe_for(dataset_name, seed=seed)
    seed_everything(seed)
    model = build_model(spec)
    meta = {"model": spec.to_dict(), "dataset": dataset_name, "train_config": recipe.to_dict()}
    outcome = prune_experiment(
        model=model, meta=meta, cfg=trial_config(p), when="init",
        train_epochs=int(p.get("train_epochs", recipe.epochs)), data_dir=p.get("data_dir"),
        dataset_name=dataset_name, train_limit=p.get("train_limit"),
        test_limit=p.get("test_limit"), score_samples=int(p.get("score_samples", 256)),
        seed=seed,
    )
    return summary(outcome)
