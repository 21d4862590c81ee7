"""Issue 14: every scan / selection uses the validation split only; the test set gives the
final numbers and nothing else.

(a) With the dataset's test split replaced by noise behind a tripwire (any read raises), the
    scans, the cliff, the gap and the smart allocation run unchanged, and smart pruning reads
    the test set only in its final evaluation (`smart.final_test`).
(b) The validation images are exactly the hold-out of the checkpoint's training recipe (the
    indices `train`'s own split gives) and disjoint from what fine-tuning trains on.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tinydeploy.analysis import cliff, context, gap, sensitivity, smart
from tinydeploy.analysis.context import (
    _score_batch,
    finetune_cfg,
    finetune_loaders,
    load_context,
)
from tinydeploy.errors import TinydeployError
from tinydeploy.prune.run import base_train_config
from tinydeploy.train.loaders import split_train_val, to_float
from tinydeploy.train.run import make_loaders

GRID = [0.0, 0.5, 0.9]
SMART = {"sparsity": 0.8, "grid": "0,0.5,0.9,0.95", "iterations": 2, "layer_epochs": 0,
         "finetune_epochs": 1, "train_limit": 256, "eval_limit": 200, "show_progress": False}


class Tripwire:
    """A dataset whose test split may not be read while `armed` (reads are recorded)."""

    def __init__(self, dataset):
        self._dataset = dataset
        self.armed = True
        self.reads: list[str] = []

    def __getattr__(self, name):
        if name.startswith("test_"):
            self.reads.append(name)
            if self.armed:
                raise AssertionError(f"selection read dataset.{name}")
        return getattr(self._dataset, name)


def _noise_test_split(dataset):
    """The same dataset with garbage test images and labels."""
    rng = np.random.default_rng(123)
    return dataclasses.replace(
        dataset, test_images=rng.integers(0, 256, dataset.test_images.shape, dtype=np.uint8),
        test_labels=rng.integers(0, 10, dataset.test_labels.shape).astype(
            dataset.test_labels.dtype))


@pytest.fixture
def fresh_contexts():
    """Contexts built inside the test only (a poisoned one must not leak into others)."""
    context._context.cache_clear()
    yield
    context._context.cache_clear()


def _selection(ckpt, data_dir, root):
    """Sensitivity scan -> smart allocation, the cliff locator and the gap, on fresh sweep
    dirs (nothing reused from another run)."""
    ctx = load_context(ckpt, data_dir, eval_limit=300)
    scan = sensitivity.scan(ctx, sweep_dir=root / "sens", ratios=GRID, data_dir=data_dir,
                            eval_limit=300, show_progress=False)
    alloc = smart.allocate(smart.curves_from_scan(scan, {}), ctx.layer_sizes(),
                           scan["baseline_accuracy"], 0.6)
    cl = cliff.run(ctx, sweep_dir=root / "cliff", coarse=[0.0, 0.3, 0.6, 0.9],
                   resolution=0.05, data_dir=data_dir, eval_limit=300, show_progress=False)
    gp = gap.run(ctx, sweep_dir=root / "gap", checkpoints=[0.0, 0.5, 0.9], bootstrap=20,
                 resolution=0.05, data_dir=data_dir, eval_limit=300, show_progress=False)
    for data in (scan, cl, gp):
        assert data["provenance"]["selection_split"] == "validation"
        assert data["provenance"]["selection_images"] == 300
        assert data["provenance"]["test_images"] == 0
    return scan, alloc, cl, gp


def test_selection_never_reads_the_test_set(checkpoint, data_dir, tmp_path, fresh_contexts,
                                            monkeypatch, mnist):
    real = _selection(checkpoint, data_dir, tmp_path / "real")
    wire = Tripwire(_noise_test_split(mnist))
    monkeypatch.setattr(context, "_dataset", lambda name, data_dir: wire)
    context._context.cache_clear()
    poisoned = _selection(checkpoint, data_dir, tmp_path / "poisoned")  # armed: reads raise
    assert wire.reads == []
    scan, alloc, cl, gp = real
    p_scan, p_alloc, p_cl, p_gp = poisoned
    assert p_scan["accuracy"] == scan["accuracy"]
    assert p_alloc.to_dict() == alloc.to_dict()
    assert p_cl["points"] == cl["points"] and p_cl["cliff_start"] == cl["cliff_start"]
    assert p_gp["checkpoints"] == gp["checkpoints"] and p_gp["departure"] == gp["departure"]


def test_smart_reads_test_only_in_its_final_evaluation(checkpoint, data_dir, tmp_path,
                                                       fresh_contexts, monkeypatch, mnist):
    real = smart.smart_prune(checkpoint=checkpoint, out=tmp_path / "real", data_dir=data_dir,
                             **SMART).report
    context._context.cache_clear()
    wire = Tripwire(_noise_test_split(mnist))
    monkeypatch.setattr(context, "_dataset", lambda name, data_dir: wire)
    final_test = smart.final_test
    calls = []

    def disarm_then_test(ctx, models):
        calls.append(sorted(models))
        wire.armed = False  # from here on (and only here) the test set may be read
        return final_test(ctx, models)

    monkeypatch.setattr(smart, "final_test", disarm_then_test)
    noisy = smart.smart_prune(checkpoint=checkpoint, out=tmp_path / "noisy",
                              data_dir=data_dir, **SMART).report
    assert calls == [["allocation_no_retraining", "dense", "smart"]]
    assert wire.reads  # the final evaluation did read the (noisy) test set
    # every choice and every validation number is the same with a garbage test set ...
    assert noisy["layer_sparsity"] == real["layer_sparsity"]
    for a, b in zip(noisy["steps"], real["steps"], strict=True):
        assert a["allocation"] == b["allocation"] and a["curves"] == b["curves"]
        assert a["val_top1"] == b["val_top1"]
        assert a["global_finetune"]["best_epoch"] == b["global_finetune"]["best_epoch"]
    for key in ("dense_val_top1", "before_retraining_val_top1", "pruned_val_top1",
                "achieved_sparsity"):
        assert noisy[key] == real[key]
    # ... only the final test numbers see it (noise: chance level)
    assert real["pruned_test_top1"] > 50 and noisy["pruned_test_top1"] < 25
    assert noisy["provenance"]["test_images"] == real["provenance"]["test_images"] == 10000
    assert noisy["provenance"]["selection_images"] == 200


def _index_split(n: int, val_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The indices `train`'s own split function holds out (fed an index 'dataset')."""
    idx = SimpleNamespace(train_images=np.arange(n), train_labels=np.arange(n))
    (train_idx, _), (val_idx, _) = split_train_val(idx, val_size, seed)
    return train_idx.numpy(), val_idx.numpy()


def test_validation_is_the_recipes_hold_out(checkpoint, data_dir, mnist):
    ctx = load_context(checkpoint, data_dir)
    recipe = base_train_config(ctx.meta, "mnist")
    assert (ctx.split.val_size, ctx.split.seed) == (recipe.val_size, recipe.seed) == (1000, 0)
    train_idx, val_idx = _index_split(len(mnist.train_labels), recipe.val_size, recipe.seed)
    assert len(val_idx) == 1000 and not set(train_idx) & set(val_idx)
    assert len(train_idx) + len(val_idx) == len(mnist.train_labels)
    # the same images (and order) as the checkpoint's own training loaders validated on
    assert torch.equal(ctx.val.x, to_float(mnist.train_images[val_idx]))
    assert torch.equal(ctx.val.y, torch.from_numpy(mnist.train_labels[val_idx]).long())
    _, train_val_loader = make_loaders(mnist, recipe)
    assert torch.equal(ctx.val.x, to_float(train_val_loader.images))
    # --eval-limit keeps the first N of them
    limited = load_context(checkpoint, data_dir, eval_limit=300)
    assert torch.equal(limited.val.x, ctx.val.x[:300]) and limited.val.n == 300


@pytest.mark.parametrize("seed, train_limit", [(0, None), (3, 500)])
def test_finetuning_trains_on_the_rest_and_early_stops_on_val(checkpoint, data_dir, mnist,
                                                              seed, train_limit):
    """Whatever the analysis seed: fine-tuning never sees a validation image in training and
    early-stops on exactly the images the scans select on."""
    ctx = load_context(checkpoint, data_dir)
    train_idx, val_idx = _index_split(len(mnist.train_labels), 1000, 0)
    train_loader, val_loader = finetune_loaders(ctx, finetune_cfg(ctx, 1, 1e-4, train_limit,
                                                                  seed))
    assert torch.equal(to_float(val_loader.images), ctx.val.x)
    expect = train_idx if train_limit is None else train_idx[:train_limit]
    assert torch.equal(train_loader.images, torch.from_numpy(mnist.train_images[expect]))
    assert not set(expect) & set(val_idx)


def test_scoring_images_come_from_the_training_part(ctx, mnist):
    batch = _score_batch(ctx, "snip", 0)
    val = {bytes(img) for img in (ctx.val.x * 255).round().to(torch.uint8).numpy()}
    scored = [bytes(img) for img in (batch.x * 255).round().to(torch.uint8).numpy()]
    assert len(scored) == 256 and not val & set(scored)


def test_trial_params_name_the_split(ctx, data_dir):
    params = context.context_params(ctx, data_dir, 500)
    assert params["eval_split"] == "validation"
    assert (params["val_size"], params["val_seed"]) == (1000, 0)
    with pytest.raises(TinydeployError, match="validation split"):
        context.context_from({**params, "val_size": 5000})


def test_accuracy_wants_an_explicit_split(ctx):
    with pytest.raises(TypeError, match=r"ctx\.val"):
        context.accuracy(ctx.model, ctx)


def test_prune_with_another_seed_keeps_the_checkpoints_hold_out(checkpoint, data_dir, mnist,
                                                                monkeypatch):
    """`tinydeploy prune --seed 3` on a seed-0 checkpoint: the seed reorders the batches, but
    the validation split that early-stops the fine-tuning stays the checkpoint's (a seeded
    re-split would validate on images the dense model trained on)."""
    from tinydeploy.prune import run as prune_run
    from tinydeploy.prune.engine import PruneConfig

    seen = []

    def recording(dataset, cfg, split_seed=None):  # the real function, its result kept
        loaders = make_loaders(dataset, cfg, split_seed=split_seed)
        seen.append(loaders)
        return loaders

    monkeypatch.setattr(prune_run, "make_loaders", recording)
    prune_run.prune_experiment(checkpoint=checkpoint / "model", cfg=PruneConfig(sparsity=0.5),
                               finetune_epochs=1, train_limit=300, test_limit=100, seed=3,
                               data_dir=data_dir, log=lambda _: None)
    train_idx, val_idx = _index_split(len(mnist.train_labels), 1000, 0)
    (train_loader, val_loader), = seen
    assert torch.equal(val_loader.images, torch.from_numpy(mnist.train_images[val_idx]))
    assert torch.equal(train_loader.images, torch.from_numpy(mnist.train_images[train_idx[:300]]))
    assert train_loader.seed == 3  # the seed still orders the batches
