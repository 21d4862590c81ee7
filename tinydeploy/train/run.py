"""`tinydeploy train` / `tinydeploy eval` as library functions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinydeploy.checkpoint import load_checkpoint, save_checkpoint
from tinydeploy.data import ImageDataset, load_dataset
from tinydeploy.models.registry import (
    ModelSpec,
    build_model,
    count_parameters,
    require_classifier,
)
from tinydeploy.rundir import ensure_writable, write_json_atomic
from tinydeploy.train.evaluate import EvalResult, evaluate
from tinydeploy.train.loaders import ArrayLoader, eval_loader, split_train_val
from tinydeploy.train.trainer import TrainConfig, TrainResult, seed_everything, train


@dataclass
class TrainOutcome:
    checkpoint: Path
    test: EvalResult
    result: TrainResult
    meta: dict[str, Any]


def make_loaders(
    dataset: ImageDataset, cfg: TrainConfig, split_seed: int | None = None
) -> tuple[ArrayLoader, ArrayLoader | None]:
    """Training and validation loaders; `cfg.seed` orders the batches and, unless
    `split_seed` is given, seeds the validation hold-out too. Fine-tuning passes the
    checkpoint's own split seed: another seed must not move images the model trained on
    into the validation split that selects it."""
    split_seed = cfg.seed if split_seed is None else split_seed
    (tx, ty), (vx, vy) = split_train_val(dataset, cfg.val_size, split_seed)
    if cfg.train_limit is not None:
        tx, ty = tx[: cfg.train_limit], ty[: cfg.train_limit]
    train_loader = ArrayLoader(tx, ty, cfg.batch_size, shuffle=True, seed=cfg.seed)
    val_loader = ArrayLoader(vx, vy, 1000) if cfg.val_size else None
    return train_loader, val_loader


def train_model(
    *,
    dataset_name: str,
    data_dir: str | Path | None,
    cfg: TrainConfig,
    out: Path,
    model_name: str = "tinynet",
    force: bool = False,
    test_limit: int | None = None,
    log=print,
) -> TrainOutcome:
    ensure_writable(out, ["model.safetensors", "model.json"], force=force)
    dataset = load_dataset(dataset_name, data_dir)
    spec = ModelSpec(name=model_name, input_shape=dataset.input_shape,
                     num_classes=dataset.num_classes)
    seed_everything(cfg.seed)
    model = build_model(spec)
    require_classifier(model, model_name)
    train_loader, val_loader = make_loaders(dataset, cfg)
    result = train(model, train_loader, val_loader, cfg, log=log)
    test = evaluate(model, eval_loader(dataset, limit=test_limit), dataset.num_classes)
    meta = {
        "kind": "trained",
        "model": spec.to_dict(),
        "dataset": dataset_name,
        "seed": cfg.seed,
        "train_config": cfg.to_dict(),
        "test_top1": test.top1,
        "test_top5": test.top5,
        "val_top1": result.history[-1].val_acc if result.history else None,
        "parameters": count_parameters(model),
        "train": result.to_dict(),
    }
    ckpt = save_checkpoint(model, out / "model", meta, force=True)
    write_json_atomic(out / "eval.json", test.to_dict())
    return TrainOutcome(ckpt, test, result, meta)


def evaluate_checkpoint(
    checkpoint: Path, data_dir: str | Path | None, dataset_name: str | None = None,
    limit: int | None = None,
) -> tuple[EvalResult, dict[str, Any]]:
    model, meta = load_checkpoint(checkpoint)
    dataset = load_dataset(dataset_name or meta["dataset"], data_dir)
    return evaluate(model, eval_loader(dataset, limit=limit), dataset.num_classes), meta
