"""Fine-tuning recipes at extreme sparsity: float and int8 (TFLite Micro) top-1 per recipe.

Grid: datasets x recipes x (unstructured sparsities + N:M patterns on conv2, fc1, fc2), each a
trial of `tinydeploy.export.trials:pruned_int8` through the resumable sweep runner: the
pruned model is exported for real (ONNX -> onnx2tf int8 TFLite) and run on the host build of
TFLite Micro over the whole test set (the firmware's outputs are TFLM's, bit for bit).
Every choice inside a trial (early stopping, best epoch) uses the validation split; the test
set gives the reported numbers only. Summary: benchmarks/results/prune_recipes.json.

    # the acceptance points of issue 19 with the recommended recipe
    python benchmarks/prune/recipes.py --datasets mnist fashion-mnist
    # recipes side by side at 97% on MNIST
    python benchmarks/prune/recipes.py --datasets mnist --sparsities 0.97 --nm \\
        --recipes course finetune-1e-3 recommended
    # a variant of a recipe (any field, every row): 3 QAT epochs
    python benchmarks/prune/recipes.py --datasets fashion-mnist --sparsities 0.9 --nm \\
        --override qat_epochs=3

Each row carries `selection_val_top1`, the validation top-1 of the final model (after its
last phase): the number to choose recipes by. The test columns are never for choosing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shlex
import sys
from pathlib import Path

import torch

from tinydeploy.checkpoint import fingerprint
from tinydeploy.errors import TinydeployError
from tinydeploy.prune.recipes import Recipe, get_recipe
from tinydeploy.rundir import cpu_model, git_revision, write_json_atomic
from tinydeploy.sweep import Trial, run_sweep
from tinydeploy.sweep.cli_args import add_executor_args, executor_from_args

RESULTS = Path(__file__).resolve().parents[1] / "results" / "prune_recipes.json"
FN = "tinydeploy.export.trials:pruned_int8"
CHECKPOINTS = {"mnist": "runs/bench-train/mnist/model.safetensors",
               "fashion-mnist": "runs/bench-train/fashion-mnist/model.safetensors"}
NM_LAYERS = ["conv2", "fc1", "fc2"]  # conv1's rows hold 9 weights: N:M would cut the input


def parse_overrides(items: list[str]) -> dict:
    """FIELD=VALUE pairs -> recipe overrides, each value typed as the field's default."""
    defaults = Recipe()
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not hasattr(defaults, key) or key == "name":
            names = sorted(set(defaults.to_dict()) - {"name"})
            raise TinydeployError(f"bad --override {item!r}: want FIELD=VALUE with a recipe "
                                  f"field ({', '.join(names)})")
        kind = type(getattr(defaults, key))
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise TinydeployError(f"--override {key} takes true or false, got {text!r}")
            out[key] = text.lower() in ("true", "1")
        else:
            try:
                out[key] = kind(text)
            except ValueError:
                raise TinydeployError(f"--override {key}: {text!r} is not a "
                                      f"{kind.__name__}") from None
    return out


def selection_val_top1(rounds: list[dict] | None) -> float | None:
    """Validation top-1 of the final model: its last phase's best (kept) epoch."""
    if not rounds:
        return None
    last = rounds[-1]
    return last.get("best_val_top1", last.get("final_val_top1"))


def trials_for(args) -> list[Trial]:
    trials = []
    for ds in args.datasets:
        ckpt = args.checkpoints.get(ds, CHECKPOINTS[ds])
        common = {"dataset": ds, "checkpoint": ckpt, "checkpoint_sha256": fingerprint(ckpt),
                  "data_dir": args.data_dir, "seed": args.seed, "method": args.method}
        if ds in args.teachers:
            common["teacher"] = args.teachers[ds]
            common["teacher_sha256"] = fingerprint(args.teachers[ds])
        for recipe in args.recipes:
            # the recipe's fields are part of the trial (and of its id): a recipe whose
            # definition changed is re-run, never answered from the cache of the old one
            common["recipe_definition"] = get_recipe(recipe).to_dict()
            unstructured = {"recipe_overrides": args.overrides} if args.overrides else {}
            for sp in args.sparsities:
                trials.append(Trial(FN, {**common, "recipe": recipe, "sparsity": sp,
                                         "scope": args.scope, "granularity": "unstructured",
                                         **unstructured}))
            for pattern, layers, mask_learning in itertools.product(
                    args.nm, args.nm_layers, args.mask_learning):
                overrides = dict(args.overrides)
                if mask_learning != "fixed":
                    overrides["mask_learning"] = mask_learning
                extra = {"recipe_overrides": overrides} if overrides else {}
                trials.append(Trial(FN, {**common, "recipe": recipe, **extra,
                                         "granularity": f"nm:{pattern}",
                                         "scope": "layerwise", "layers": layers}))
    return trials


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="*", default=["mnist"], choices=sorted(CHECKPOINTS))
    ap.add_argument("--checkpoint", action="append", default=[], metavar="DATASET=PATH",
                    help="checkpoint per dataset (default runs/bench-train/<dataset>)")
    ap.add_argument("--teacher", action="append", default=[], metavar="DATASET=PATH",
                    help="distillation teacher per dataset (needs --override distill=true; "
                         "default: the checkpoint itself)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--recipes", nargs="*", default=["recommended"])
    ap.add_argument("--method", default="magnitude")
    ap.add_argument("--scope", default="global")
    ap.add_argument("--sparsities", nargs="*", type=float,
                    default=[0.8, 0.9, 0.95, 0.97, 0.98])
    ap.add_argument("--nm", nargs="*", default=["2:4", "1:4", "1:8"],
                    help="N:M patterns on conv2, fc1, fc2")
    ap.add_argument("--nm-layers", nargs="*", default=[",".join(NM_LAYERS)],
                    metavar="LAYER[,LAYER...]",
                    help="the layers of each N:M row, one comma-separated set per row "
                         "(default conv2,fc1,fc2; e.g. conv2 fc1 fc2 for one layer at a time: "
                         "what each layer's pattern costs)")
    ap.add_argument("--mask-learning", nargs="*", default=["srste"],
                    choices=["fixed", "srste"], help="for the N:M rows")
    ap.add_argument("--override", action="append", default=[], metavar="FIELD=VALUE",
                    help="a recipe field for every row, e.g. qat_epochs=3 or nm_ramp=true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--retries", type=int, default=0)
    add_executor_args(ap)
    ap.add_argument("--sweep-dir", default="runs/sweeps/prune-recipes")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    args.nm_layers = [[n for n in item.split(",") if n] for item in args.nm_layers]
    args.checkpoints = dict(item.split("=", 1) for item in args.checkpoint)
    args.teachers = dict(item.split("=", 1) for item in args.teacher)
    try:
        args.overrides = parse_overrides(args.override)
    except TinydeployError as exc:
        ap.error(str(exc))
    if args.teachers and not args.overrides.get("distill"):
        ap.error("--teacher needs --override distill=true (the recipe must distill)")
    trials = trials_for(args)
    load_before = os.getloadavg()
    with executor_from_args(args) as ex:
        summary = run_sweep(trials, args.sweep_dir, executor=ex, retries=args.retries,
                            log=print, description="prune recipes")
    rows = []
    for t in trials:
        rec = summary.records.get(t.id, {})
        res = rec.get("result") or {}
        p = t.to_dict()["params"]
        rows.append({
            "id": t.id, "dataset": p["dataset"], "checkpoint_sha256": p["checkpoint_sha256"],
            "teacher": p.get("teacher"), "teacher_sha256": p.get("teacher_sha256"),
            "recipe": p["recipe"], "granularity": p["granularity"],
            "layers_pruned": p.get("layers"),
            "sparsity": p.get("sparsity"), "mask_learning": p.get("recipe_overrides", {}).get(
                "mask_learning", "fixed"), "overrides": p.get("recipe_overrides", {}),
            "status": rec.get("status"), "error": rec.get("error"),
            "achieved_sparsity": res.get("achieved_sparsity"),
            "selection_val_top1": selection_val_top1(res.get("rounds")),
            "dense_top1": res.get("dense_top1"), "float_top1": res.get("float_top1"),
            "int8_top1": res.get("int8_top1"), "int8_gap_points": res.get("int8_gap_points"),
            "int8_eval_images": res.get("int8_eval_images"),
            "reference_vs_tflm_mismatched_images": res.get(
                "reference_vs_tflm_mismatched_images"),
            "finetune_seconds": res.get("prune_seconds"), "rounds": res.get("rounds"),
            "layers": res.get("layers"), "recipe_fields": res.get("recipe")})
    out = {
        "benchmark": "recipes at extreme sparsity: float vs int8 (TFLite Micro) top-1",
        "rows": rows,
        "summary": summary.line(),
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, torch {torch.__version__} "
                   f"{torch.get_num_threads()} threads",
        "cpu": cpu_model(),
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "git_revision": git_revision(),
        "note": "accuracy over the whole test set; int8 = TFLite Micro on the exported model; "
                "finetune_seconds = wall time of pruning + fine-tuning (+QAT) of the trial "
                "on this machine; selection (early stopping, best epoch) on the validation "
                "split only",
    }
    write_json_atomic(args.out, out)
    print(summary.line())
    for r in rows:
        print(json.dumps({k: r[k] for k in ("dataset", "recipe", "granularity",
                                             "layers_pruned", "sparsity",
                                             "mask_learning", "selection_val_top1",
                                             "float_top1", "int8_top1",
                                             "finetune_seconds")}))
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
