"""Sensitivity-aware ("smart") pruning.

Allocation (the classic sensitivity-threshold procedure): from each layer's sensitivity curve
acc_L(r) (`tinydeploy.analysis.sensitivity`, one layer pruned, no retraining), the layer's
sparsity under a degradation threshold T (accuracy points) is the largest r such that the
drop acc_dense - acc_L(r') <= T for every grid ratio r' <= r, interpolated linearly into the
first grid interval where the drop exceeds T (so it is continuous in T). The overall sparsity
sum_L n_L s_L(T) / sum_L n_L (n_L: weights of L) grows with T; T is bisected until the overall
sparsity is the target (the last bracket is interpolated per layer, so the target is hit to
`tolerance` even where a curve is flat). With `weighting="size"` layer L's threshold is
T * n_L / max n_L instead: small layers buy little sparsity, so they are held to a stricter
threshold. Layers never exceed the largest ratio of the grid.

Pruning and retraining: with `iterations` K > 1 the target is approached in K steps
(keep_k = keep^(k / K)); every step re-scans the sensitivity of the current (pruned and
retrained) model. In each step the layers are pruned one at a time (largest new cut first) to
their allocated sparsity with the engine's explicit scope, the whole network being fine-tuned
for `layer_epochs` after each layer (layer-wise retraining); then the network is fine-tuned
for `finetune_epochs` (global fine-tune). Fine-tuning is the engine's protocol (Adam, constant
lr, early stopping on the validation split); masks are parametrizations and a `MaskGuard`
checks after every optimizer step that pruned weights stay exactly zero.

Data: every scan, the allocation and every intermediate accuracy use the validation split
(`Context.val`, the checkpoint recipe's held-out training images, the same ones fine-tuning
early-stops on). The test set is read once, after every choice is made, by `final_test`:
the reported dense / allocation-at-once / smart test accuracies (`*_test_top1`) and nothing
else. The report carries the validation numbers too (`*_val_top1`), labelled as such.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from tinydeploy.analysis import sensitivity
from tinydeploy.analysis.context import (
    Context,
    accuracy,
    finetune,
    finetune_cfg,
    load_context,
    prune_in_place,
)
from tinydeploy.analysis.report import figure, images_text, md_table, pct, png, provenance
from tinydeploy.checkpoint import save_checkpoint
from tinydeploy.errors import TinydeployError, unknown_choice
from tinydeploy.prune import masks as masks_mod
from tinydeploy.prune.engine import PruneConfig
from tinydeploy.prune.report import sparsity_report
from tinydeploy.rundir import ensure_writable, write_bytes_atomic, write_json_atomic
from tinydeploy.rundir import write_text_atomic as _write_text

KIND = "smart"
DEFAULT_GRID = "0:0.95:0.05,0.97,0.98,0.99"
OUTPUT_FILES = ["model.safetensors", "model.json", "smart.json", "smart.md",
                "smart_allocation.png"]

Curve = Sequence[tuple[float, float]]  # (sparsity, accuracy %), sparsity ascending


def layer_sparsity_at(curve: Curve, baseline: float, threshold: float) -> float:
    """The largest sparsity whose drop (and every smaller grid ratio's) stays <= threshold."""
    prev_r, prev_d = curve[0][0], baseline - curve[0][1]
    if prev_d > threshold:
        return prev_r
    for r, a in curve[1:]:
        d = baseline - a
        if d > threshold:
            return prev_r + (threshold - prev_d) / (d - prev_d) * (r - prev_r)
        prev_r, prev_d = r, d
    return prev_r


def _overall(alloc: Mapping[str, float], sizes: Mapping[str, int]) -> float:
    return sum(alloc[n] * sizes[n] for n in alloc) / sum(sizes[n] for n in alloc)


@dataclass
class Allocation:
    threshold: float  # accuracy points
    layer_sparsity: dict[str, float]
    overall: float
    target: float
    bisection_steps: int

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "layer_sparsity": self.layer_sparsity,
                "overall": self.overall, "target": self.target,
                "bisection_steps": self.bisection_steps}


WEIGHTINGS = ("uniform", "size")


def allocate(curves: Mapping[str, Curve], sizes: Mapping[str, int], baseline: float,
             target: float, *, weighting: str = "uniform", tolerance: float = 1e-4,
             max_steps: int = 100) -> Allocation:
    """Bisect the degradation threshold T so the overall sparsity reaches `target`.

    weighting "uniform": every layer may lose T points (the classic procedure); "size":
    layer L may lose T * n_L / max_L n_L points, so a layer holding few weights (which buys
    little sparsity) is held to a stricter threshold."""
    if not 0.0 <= target < 1.0:
        raise TinydeployError(f"target sparsity must be in [0, 1), got {target}")
    if weighting not in WEIGHTINGS:
        raise unknown_choice("weighting", weighting, WEIGHTINGS)
    missing = [n for n in curves if n not in sizes]
    if missing:
        raise TinydeployError(f"no weight count for layer {missing[0]!r}")
    biggest = max(sizes[n] for n in curves)
    scale = {n: (sizes[n] / biggest if weighting == "size" else 1.0) for n in curves}
    drops = [(baseline - a) / scale[n] for n, c in curves.items() for _, a in c]

    def at(t: float) -> dict[str, float]:
        return {n: layer_sparsity_at(c, baseline, t * scale[n]) for n, c in curves.items()}

    lo, hi = min([*drops, 0.0]) - 1.0, max([*drops, 0.0]) + 1.0
    a_lo, a_hi = at(lo), at(hi)
    o_lo, o_hi = _overall(a_lo, sizes), _overall(a_hi, sizes)
    if o_hi < target - tolerance:
        raise TinydeployError(
            f"target sparsity {target:.4f} is out of reach: every layer at the largest "
            f"ratio of the grid gives {o_hi:.4f}; extend the grid (e.g. add 0.98,0.99)")
    if o_lo >= target:
        return Allocation(lo, a_lo, o_lo, target, 0)
    steps = 0
    while steps < max_steps and o_hi - target > tolerance:
        mid = 0.5 * (lo + hi)
        a_mid = at(mid)
        o_mid = _overall(a_mid, sizes)
        if o_mid >= target:
            hi, a_hi, o_hi = mid, a_mid, o_mid
        else:
            lo, a_lo, o_lo = mid, a_mid, o_mid
        steps += 1
        if hi - lo < 1e-9:
            break
    if o_hi - target > tolerance and o_hi > o_lo:  # a jump: interpolate inside the bracket
        lam = (target - o_lo) / (o_hi - o_lo)
        a_hi = {n: a_lo[n] + lam * (a_hi[n] - a_lo[n]) for n in a_hi}
        o_hi = _overall(a_hi, sizes)
    return Allocation(hi, a_hi, o_hi, target, steps)


def curves_from_scan(data: Mapping[str, Any], current: Mapping[str, float]) -> dict[str, Curve]:
    """Sensitivity curves starting at each layer's current sparsity."""
    ratios = data["config"]["ratios"]
    out = {}
    for name, accs in data["accuracy"].items():
        c0 = current.get(name, 0.0)
        out[name] = [(c0, data["baseline_accuracy"])] + [
            (r, a) for r, a in zip(ratios, accs, strict=True) if r > c0 + 1e-9]
    return out


def current_sparsity(model: nn.Module) -> dict[str, float]:
    return {n: 1.0 - float((layer.weight != 0).float().mean())
            for n, layer in masks_mod.prunable_layers(model).items()}


@dataclass
class SmartOutcome:
    model: nn.Module
    meta: dict[str, Any]
    report: dict[str, Any]
    markdown: str

    def line(self) -> str:
        r = self.report
        p = r["provenance"]
        return (f"smart pruning: target {r['target']:.4f}, achieved "
                f"{r['achieved_sparsity']:.4f} (selected on {p['selection_images']} validation "
                f"images); test top-1 {r['dense_test_top1']:.2f}% -> "
                f"{r['pruned_test_top1']:.2f}% (before retraining "
                f"{r['before_retraining_test_top1']:.2f}%; {p['test_images']} test images)")


def smart_prune(
    *,
    checkpoint: str | Path,
    sparsity: float,
    out: str | Path | None = None,
    force: bool = False,
    method: str = "magnitude",
    grid: Sequence[float] | str | None = None,
    iterations: int = 1,
    weighting: str = "uniform",
    layer_epochs: int = 1,
    finetune_epochs: int = 5,
    finetune_lr: float = 1e-4,
    train_limit: int | None = None,
    eval_limit: int | None = None,
    test_limit: int | None = None,
    data_dir: str | Path | None = None,
    seed: int = 0,
    sweep_dir: str | Path | None = None,
    show_progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> SmartOutcome:
    """Allocate per-layer sparsity from sensitivity curves, prune layer by layer with
    retraining, fine-tune globally; with `out`, write a pruned checkpoint (masks kept, restore
    hook `tinydeploy.prune.masks`) plus smart.json / smart.md / smart_allocation.png.

    `eval_limit` keeps the first N validation images for the scans and the validation
    accuracies (selection); `test_limit` the first N test images for the final test
    accuracies (default: all). Sweep trials (the scans) go to `sweep_dir` (default
    `<out>/sweep`): a re-run resumes."""
    if not 0.0 < sparsity < 1.0:
        raise TinydeployError(f"sparsity must be in (0, 1), got {sparsity}")
    if iterations < 1 or layer_epochs < 0 or finetune_epochs < 0:
        raise TinydeployError("iterations must be >= 1 and epochs >= 0")
    if weighting not in WEIGHTINGS:
        raise unknown_choice("weighting", weighting, WEIGHTINGS)
    if out is None and sweep_dir is None:
        raise TinydeployError("give an output directory or a sweep directory")
    grid = DEFAULT_GRID if grid is None else grid
    ratios = sensitivity.parse_grid(grid) if isinstance(grid, str) else sorted(grid)
    if out is not None:
        ensure_writable(Path(out), OUTPUT_FILES, force=force)
    sweep_dir = Path(sweep_dir) if sweep_dir is not None else Path(out) / "sweep"
    log = log or (lambda _msg: None)
    start = time.perf_counter()
    ctx0 = load_context(checkpoint, data_dir, eval_limit, test_limit=test_limit)
    sizes = ctx0.layer_sizes()
    dense_val = accuracy(ctx0.model, ctx0.val)
    model = ctx0.copy_model()
    ctx = ctx0
    steps: list[dict[str, Any]] = []
    keep = 1.0 - sparsity
    for k in range(1, iterations + 1):
        target = 1.0 - keep ** (k / iterations)
        scan = sensitivity.scan(ctx, sweep_dir=sweep_dir, ratios=ratios, method=method,
                                seed=seed, data_dir=data_dir, eval_limit=eval_limit,
                                show_progress=show_progress)
        current = current_sparsity(model)
        alloc = allocate(curves_from_scan(scan, current), sizes, scan["baseline_accuracy"],
                         target, weighting=weighting)
        log(f"step {k}/{iterations}: threshold {alloc.threshold:.3f} points -> "
            + ", ".join(f"{n} {pct(s)}" for n, s in alloc.layer_sparsity.items()))
        order = sorted(alloc.layer_sparsity,
                       key=lambda n: -(alloc.layer_sparsity[n] - current.get(n, 0.0)) * sizes[n])
        ft_layer = finetune_cfg(ctx0, layer_epochs, finetune_lr, train_limit, seed)
        retrain = []
        for name in order:
            s = alloc.layer_sparsity[name]
            if s <= current.get(name, 0.0) + 1e-9:
                continue
            prune_in_place(model, ctx0, PruneConfig(method=method, sparsity=s, scope="explicit",
                                                    layer_sparsity={name: s}, seed=seed))
            info = finetune(model, ctx0, ft_layer)
            retrain.append({"layer": name, "sparsity": s,
                            "val_top1_after": accuracy(model, ctx0.val), **info})
            log(f"  {name} -> {pct(s)}: retrained, validation top-1 "
                f"{retrain[-1]['val_top1_after']:.2f}%")
        glob = finetune(model, ctx0, finetune_cfg(ctx0, finetune_epochs, finetune_lr,
                                                  train_limit, seed))
        val_top1 = accuracy(model, ctx0.val)
        log(f"  global fine-tune: validation top-1 {val_top1:.2f}%")
        steps.append({"step": k, "target": target, "allocation": alloc.to_dict(),
                      "scan_baseline": scan["baseline_accuracy"],
                      "curves": {n: list(map(list, c)) for n, c in
                                 curves_from_scan(scan, current).items()},
                      "layerwise_retraining": retrain, "global_finetune": glob,
                      "val_top1": val_top1})
        if k < iterations:
            ckpt = save_checkpoint(model, sweep_dir / f"step{k}" / "model",
                                   _meta(ctx0, model, {}, val_top1), force=True)
            ctx = load_context(ckpt, data_dir, eval_limit)
            if ctx.split != ctx0.split:  # the step checkpoint keeps the parent's recipe
                raise TinydeployError("intermediate checkpoint changed the validation split")
    final = steps[-1]["allocation"]["layer_sparsity"]
    one_shot = _one_shot_model(ctx0, final, method, seed)
    val = {"dense": dense_val, "allocation_no_retraining": accuracy(one_shot, ctx0.val),
           "smart": steps[-1]["val_top1"]}
    # every choice is made: the test set gives the final numbers and nothing else
    test = final_test(ctx0, {"dense": ctx0.model, "allocation_no_retraining": one_shot,
                             "smart": model})
    log(f"final test top-1 on {ctx0.test.n} test images: dense {test['dense']:.2f}%, smart "
        f"{test['smart']:.2f}%")
    rep = sparsity_report(model, ctx0.input_shape, final, requested_global=sparsity)
    report = {
        "kind": KIND,
        "provenance": provenance(ctx0, test=True),
        "config": {"method": method, "target": sparsity, "iterations": iterations,
                   "weighting": weighting,
                   "layer_epochs": layer_epochs, "finetune_epochs": finetune_epochs,
                   "finetune_lr": finetune_lr, "train_limit": train_limit, "seed": seed,
                   "grid": ratios, "eval_limit": eval_limit, "test_limit": test_limit},
        "target": sparsity,
        "achieved_sparsity": rep["global"]["achieved_sparsity"],
        "dense_test_top1": test["dense"],
        "before_retraining_test_top1": test["allocation_no_retraining"],
        "pruned_test_top1": test["smart"],
        "dense_val_top1": val["dense"],
        "before_retraining_val_top1": val["allocation_no_retraining"],
        "pruned_val_top1": val["smart"],
        "layer_sparsity": final,
        "steps": steps,
        "sparsity_report": rep,
        "seconds": time.perf_counter() - start,
    }
    meta = _meta(ctx0, model, report, report["pruned_val_top1"], report["pruned_test_top1"])
    md = markdown(report)
    if out is not None:
        out = Path(out)
        save_checkpoint(model, out / "model", meta, force=True)
        write_bytes_atomic(out / "smart_allocation.png", plot(report))
        write_json_atomic(out / "smart.json", report)
        _write_text(out / "smart.md", md)
    return SmartOutcome(model, meta, report, md)


def _one_shot_model(ctx: Context, alloc: Mapping[str, float], method: str,
                    seed: int) -> nn.Module:
    """The final allocation applied at once to the checkpoint, no retraining."""
    model = ctx.copy_model()
    return prune_in_place(model, ctx, PruneConfig(method=method, sparsity=0.0,
                                                  scope="explicit",
                                                  layer_sparsity=dict(alloc), seed=seed))


def final_test(ctx: Context, models: Mapping[str, nn.Module]) -> dict[str, float]:
    """Test top-1 of the final models: the only place smart pruning reads the test set, called
    after the allocation, the retraining and every validation number are fixed."""
    return {name: accuracy(m, ctx.test) for name, m in models.items()}


def _meta(ctx: Context, model: nn.Module, report: Mapping[str, Any], val_top1: float,
          test_top1: float | None = None) -> dict:
    tested = {} if test_top1 is None else {"test_top1": test_top1,
                                           "test_samples": ctx.test.n}
    return {
        "kind": "pruned",
        "model": ctx.meta["model"],
        "dataset": ctx.dataset_name,
        "seed": ctx.meta.get("seed"),
        "train_config": ctx.meta.get("train_config"),
        "parent": {"checkpoint": ctx.checkpoint, "fingerprint": ctx.fingerprint,
                   "test_top1": ctx.meta.get("test_top1")},
        "prune": {"config": {**report.get("config", {}), "method": "smart",
                             "criterion": report.get("config", {}).get("method")},
                  "layer_sparsity": report.get("layer_sparsity")},
        "val_top1": val_top1,
        "val_samples": ctx.val.n,
        **tested,
        "selection_split": "validation",
        "restore_hooks": [masks_mod.RESTORE_HOOK],
    }


def plot(report: Mapping[str, Any]) -> bytes:
    plt = figure()
    last = report["steps"][-1]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    base = last["scan_baseline"]
    t = last["allocation"]["threshold"]
    for name, curve in last["curves"].items():
        ax.plot([100 * r for r, _ in curve], [base - a for _, a in curve], ".-", label=name)
    ax.axhline(t, color="k", ls="--", label=f"threshold T = {t:.2f} pts")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_xlabel("layer sparsity (%)")
    ax.set_ylabel("validation accuracy drop (points)")
    ax.set_title("sensitivity curves of the last step (validation split)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    names = list(report["layer_sparsity"])
    ax2.bar(names, [100 * report["layer_sparsity"][n] for n in names])
    ax2.axhline(100 * report["target"], color="k", ls="--", label="overall target")
    ax2.set_ylabel("allocated sparsity (%)")
    ax2.set_title(f"allocation: overall {pct(report['achieved_sparsity'], 2)}")
    ax2.legend(fontsize=7)
    return png(fig)


def markdown(report: Mapping[str, Any]) -> str:
    rows = [[r["layer"], r["weights"], pct(report["layer_sparsity"].get(r["layer"]), 2),
             pct(r["achieved_sparsity"], 2), r["nonzeros"]]
            for r in report["sparsity_report"]["layers"]]
    cfg = report["config"]
    steps = md_table(["step", "target", "threshold T (pts)", "overall",
                      "validation top-1 after"], [
        [s["step"], pct(s["target"], 2), f"{s['allocation']['threshold']:.3f}",
         pct(s["allocation"]["overall"], 2), s["val_top1"]] for s in report["steps"]])
    return "\n\n".join([
        "# Smart (sensitivity-aware) pruning",
        f"Criterion `{cfg['method']}`, target {pct(report['target'], 2)}, {cfg['iterations']} "
        f"step(s), {cfg['layer_epochs']} epoch(s) after each layer, {cfg['finetune_epochs']} "
        f"global fine-tune epoch(s) (lr {cfg['finetune_lr']}). Scans, allocation and "
        f"early stopping use the validation split only; the test set gives the final column "
        f"only. Images: {images_text(report['provenance'])}.",
        md_table(["", "validation top-1 % (selection)", "test top-1 % (final)"], [
            ["dense", report["dense_val_top1"], report["dense_test_top1"]],
            ["allocation at once, no retraining", report["before_retraining_val_top1"],
             report["before_retraining_test_top1"]],
            ["smart + retraining", report["pruned_val_top1"], report["pruned_test_top1"]]]),
        md_table(["layer", "weights", "allocated", "achieved", "non-zeros"], rows),
        steps,
        f"Achieved overall sparsity {pct(report['achieved_sparsity'], 2)} in "
        f"{report['seconds']:.0f} s. Plot: `smart_allocation.png`.",
    ]) + "\n"
