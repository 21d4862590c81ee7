"""What every analysis shares: the checkpoint and its two evaluation sets loaded once per
process, cheap evaluation, pruned copies, and running a list of points through the sweep runner.

Two evaluation sets, never mixed up:

- `ctx.val`: the validation split of the checkpoint's own training recipe: the `val_size`
  training images `tinydeploy.train.loaders.split_train_val` holds out with the recipe's seed
  (the very images the checkpoint was selected on and fine-tuning early-stops on; never
  trained on, never scored on). Every scan and every selection (sensitivity curves, gap,
  cliff location, smart allocation, early stopping) evaluates on it; `eval_limit` keeps its
  first N images.
- `ctx.test`: the dataset's test split, loaded only when first asked for, for final reported
  numbers only (e.g. smart pruning's final accuracy, robustness); `test_limit` keeps its
  first N images.

Trial functions (`module:function` for `tinydeploy.sweep`) receive the checkpoint as a path
plus its content fingerprint, so a changed checkpoint never reuses stale trial results, and
re-running an analysis skips every point already stored under `<out>/sweep/trials/`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from tinydeploy.checkpoint import fingerprint, load_checkpoint
from tinydeploy.data import ImageDataset, load_dataset
from tinydeploy.errors import TinydeployError
from tinydeploy.models.registry import ModelSpec
from tinydeploy.prune.criteria import Batch, get_criterion
from tinydeploy.prune.engine import PruneConfig, prune_model
from tinydeploy.prune.masks import MaskGuard, prunable_layers
from tinydeploy.prune.run import base_train_config, score_batch
from tinydeploy.prune.schedules import finetune_config
from tinydeploy.train.loaders import ArrayLoader, split_train_val, to_float
from tinydeploy.train.run import make_loaders
from tinydeploy.train.trainer import TrainConfig, seed_everything, train

EVAL_BATCH = 1000
SCORE_SAMPLES = 256
VALIDATION, TEST = "validation", "test"


@dataclass(frozen=True)
class EvalSet:
    """Float images in [0, 1] and labels of one split (`validation` or `test`)."""

    split: str
    x: Tensor
    y: Tensor

    @property
    def n(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Split:
    """The checkpoint recipe's hold-out: `val_size` training images chosen with `seed`."""

    val_size: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return {"held_out_from": "train", "val_size": self.val_size, "seed": self.seed}


@dataclass
class Context:
    """A checkpoint, its validation set (every scan / selection) and its test set (final
    numbers only, loaded on first use). `model` is never modified."""

    checkpoint: str
    fingerprint: str
    model: nn.Module
    meta: dict[str, Any]
    dataset_name: str
    dataset: ImageDataset
    split: Split
    val: EvalSet
    input_shape: tuple[int, int, int]
    eval_limit: int | None = None
    test_limit: int | None = None
    _test: EvalSet | None = field(default=None, repr=False)

    @property
    def test(self) -> EvalSet:
        """The test images (first `test_limit`): for final reported numbers, never selection."""
        if self._test is None:
            images = self.dataset.test_images
            labels = self.dataset.test_labels
            if self.test_limit is not None:
                images, labels = images[: self.test_limit], labels[: self.test_limit]
            self._test = EvalSet(TEST, to_float(torch.from_numpy(np.asarray(images))),
                                 torch.from_numpy(np.asarray(labels)).long())
        return self._test

    def copy_model(self) -> nn.Module:
        return copy.deepcopy(self.model)

    def layer_sizes(self) -> dict[str, int]:
        """Weights per prunable layer (biases are never pruned by unstructured methods)."""
        return {n: int(m.weight.numel()) for n, m in prunable_layers(self.model).items()}


def recipe_split(meta: dict[str, Any], dataset_name: str) -> Split:
    """The validation split of the checkpoint's training recipe (its `train_config`, else the
    dataset's default recipe, as fine-tuning uses)."""
    base = base_train_config(meta, dataset_name)
    if not base.val_size:
        raise TinydeployError(
            "the checkpoint's training recipe holds out no validation images (val_size 0); "
            "analyses select on the validation split only, never on test: retrain with "
            "--val-size > 0")
    return Split(int(base.val_size), int(base.seed))


def split_parts(dataset: ImageDataset, split: Split):
    """((train images, labels), (val images, labels)): exactly `train`'s hold-out."""
    return split_train_val(dataset, split.val_size, split.seed)


@lru_cache(maxsize=4)
def _dataset(name: str, data_dir: str | None) -> ImageDataset:
    return load_dataset(name, data_dir)


@lru_cache(maxsize=8)
def _context(checkpoint: str, fp: str, data_dir: str | None, eval_limit: int | None,
             test_limit: int | None) -> Context:
    model, meta = load_checkpoint(checkpoint)
    name = meta.get("dataset")
    if not name:
        raise TinydeployError(f"checkpoint {checkpoint} names no dataset")
    dataset = _dataset(name, data_dir)
    split = recipe_split(meta, name)
    _, (images, labels) = split_parts(dataset, split)
    if eval_limit is not None:
        images, labels = images[:eval_limit], labels[:eval_limit]
    spec = ModelSpec.from_dict(meta["model"])
    return Context(checkpoint, fp, model, meta, name, dataset, split,
                   EvalSet(VALIDATION, to_float(images), labels.long()),
                   tuple(spec.input_shape), eval_limit, test_limit)


def _check_limit(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise TinydeployError(f"--{name} must be >= 1, got {value}")


def load_context(checkpoint: str | Path, data_dir: str | Path | None = None,
                 eval_limit: int | None = None, fp: str | None = None,
                 test_limit: int | None = None) -> Context:
    """The (cached) context of a checkpoint; `eval_limit` keeps the first N validation images
    (every scan / selection), `test_limit` the first N test images (final numbers)."""
    _check_limit("eval-limit", eval_limit)
    _check_limit("test-limit", test_limit)
    path = str(Path(checkpoint).resolve())
    fp = fp or fingerprint(path)
    return _context(path, fp, None if data_dir is None else str(data_dir), eval_limit,
                    test_limit)


def context_params(ctx: Context, data_dir: str | Path | None, eval_limit: int | None,
                   test_limit: int | None = None) -> dict:
    """The parameters every trial function needs to find its context. The split is part of
    them, so trials evaluated on other images (e.g. on test, before issue 14) never match."""
    params = {"checkpoint": ctx.checkpoint, "fingerprint": ctx.fingerprint,
              "data_dir": None if data_dir is None else str(data_dir),
              "eval_split": VALIDATION, "val_size": ctx.split.val_size,
              "val_seed": ctx.split.seed, "eval_limit": eval_limit}
    if test_limit is not None:
        params["test_limit"] = test_limit
    return params


def context_from(params: dict[str, Any]) -> Context:
    ctx = load_context(params["checkpoint"], params.get("data_dir"), params.get("eval_limit"),
                       params.get("fingerprint"), params.get("test_limit"))
    want = (params.get("val_size"), params.get("val_seed"))
    if want != (None, None) and want != (ctx.split.val_size, ctx.split.seed):
        raise TinydeployError(f"trial expects validation split {want}, the checkpoint's recipe "
                              f"gives {(ctx.split.val_size, ctx.split.seed)}")
    return ctx


@torch.no_grad()
def correct(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Per-image correctness (bool) of the model's top-1 prediction."""
    model.eval()
    out = [model(x[i : i + EVAL_BATCH]).argmax(1) == y[i : i + EVAL_BATCH]
           for i in range(0, len(y), EVAL_BATCH)]
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.bool)


def accuracy(model: nn.Module, data: EvalSet) -> float:
    """Top-1 accuracy in percent on one evaluation set (`ctx.val` for anything that selects,
    `ctx.test` for final numbers only)."""
    if not isinstance(data, EvalSet):
        raise TypeError("accuracy() takes an EvalSet: ctx.val (selection) or ctx.test (final)")
    return 100.0 * float(correct(model, data.x, data.y).float().mean())


def pack_bits(flags: Tensor) -> str:
    """Bool vector -> hex string (raw per-image results kept in trial JSON)."""
    return np.packbits(flags.numpy().astype(np.uint8)).tobytes().hex()


def unpack_bits(text: str, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(bytes.fromhex(text), dtype=np.uint8))[:n].astype(bool)


def _score_batch(ctx: Context, method: str, seed: int) -> Batch | None:
    """Scoring images for data-driven criteria: drawn from the training part of the split (as
    the pruning engine does), never from the validation images."""
    if not get_criterion(method).needs_data:
        return None
    (images, labels), _ = split_parts(ctx.dataset, ctx.split)
    return score_batch(images, labels.long(), SCORE_SAMPLES, seed)


def prune_in_place(model: nn.Module, ctx: Context, cfg: PruneConfig) -> nn.Module:
    prune_model(model, cfg, _score_batch(ctx, cfg.method, cfg.seed), input_shape=ctx.input_shape)
    return model


def pruned_copy(ctx: Context, cfg: PruneConfig) -> nn.Module:
    """A pruned copy of the checkpoint's model (masks as parametrizations)."""
    return prune_in_place(ctx.copy_model(), ctx, cfg)


def uniform_config(method: str, sparsity: float, scope: str, seed: int = 0) -> PruneConfig:
    """Whole-model pruning to `sparsity`: scope global (one threshold) or layerwise (the same
    sparsity in every layer)."""
    if scope not in ("global", "layerwise"):
        raise TinydeployError(f"unknown scope {scope!r}; choose global or layerwise")
    return PruneConfig(method=method, sparsity=sparsity, scope=scope, seed=seed)


def finetune_cfg(ctx: Context, epochs: int, lr: float, train_limit: int | None,
                 seed: int | None = None, patience: int = 3) -> TrainConfig:
    """The engine's fine-tuning protocol (Adam, constant lr, early stopping on the held-out
    validation split of the checkpoint's own training recipe). `seed` seeds the shuffling;
    the split always stays the recipe's (see `finetune_loaders`)."""
    base = base_train_config(ctx.meta, ctx.dataset_name)
    base = replace(base, train_limit=train_limit, seed=base.seed if seed is None else seed)
    return finetune_config(base, epochs=epochs, lr=lr, patience=patience)


def finetune_loaders(ctx: Context, cfg: TrainConfig) -> tuple[ArrayLoader, ArrayLoader]:
    """`train`'s loaders on the checkpoint recipe's split, whatever `cfg.seed` is: fine-tuning
    trains on the training part (first `train_limit` images) and early-stops on exactly the
    validation images the analyses select on. `cfg.seed` only orders the batches."""
    train_loader, val_loader = make_loaders(ctx.dataset, replace(cfg, val_size=ctx.split.val_size),
                                            split_seed=ctx.split.seed)
    assert val_loader is not None  # recipe_split refuses val_size 0
    return train_loader, val_loader


def finetune(model: nn.Module, ctx: Context, cfg: TrainConfig, log=None) -> dict[str, Any]:
    """Plain training of a masked model; the mask guard checks pruned weights stay zero."""
    if cfg.epochs <= 0:
        return {"epochs": 0, "mask_checks": 0}
    seed_everything(cfg.seed)
    train_loader, val_loader = finetune_loaders(ctx, cfg)
    guard = MaskGuard()
    res = train(model, train_loader, val_loader, cfg, step_callback=guard, log=log,
                progress=_QuietProgress())
    return {"epochs": len(res.history), "best_epoch": res.best_epoch,
            "best_val_top1": res.best_val_acc, "seconds": res.seconds,
            "mask_checks": guard.checks}


class _QuietProgress:
    """A progress sink for training inside a trial (the sweep shows its own bar)."""

    def add_task(self, *args, **kwargs) -> int:
        return 0

    def update(self, *args, **kwargs) -> None:
        pass

    def remove_task(self, *args, **kwargs) -> None:
        pass


def run_points(
    fn: str,
    points: Sequence[dict[str, Any]],
    sweep_dir: str | Path,
    *,
    show_progress: bool = True,
    description: str = "analysis",
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Run one trial per parameter dict through the sweep runner (resumable, fixed params ->
    fixed trial id) and return the results in the order of `points`."""
    from tinydeploy.sweep import Trial, run_sweep

    trials = [Trial(fn, p) for p in points]
    summary = run_sweep(trials, sweep_dir, retries=0, show_progress=show_progress, log=log,
                        description=description)
    if summary.failed:
        record = summary.records[summary.failed[0]]
        raise TinydeployError(f"{len(summary.failed)} analysis trial(s) failed, first: "
                              f"{record.get('error')} (see {sweep_dir}/trials)")
    return [summary.records[t.id]["result"] for t in trials]
