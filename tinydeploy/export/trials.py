"""Sweep trial functions that take a pruned model through the real int8 export
(`tinydeploy.export.trials:pruned_int8`), used by `benchmarks/prune/recipes.py`."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from tinydeploy.export.pipeline import ExportConfig, export
from tinydeploy.prune.recipes import get_recipe
from tinydeploy.prune.run import prune_checkpoint
from tinydeploy.prune.trials import summary, trial_config, trial_recipe


def pruned_int8(p: dict[str, Any]) -> dict[str, Any]:
    """`tinydeploy.prune.trials:after_training` (default recipe: course), then the real int8
    export of the pruned model: float and TFLite Micro int8 top-1 on the test set (the
    firmware's outputs equal TFLM's bit for bit). `teacher`: a distillation teacher
    checkpoint (default: the checkpoint itself, when the recipe distills)."""
    with tempfile.TemporaryDirectory(prefix="td-trial-") as tmp:
        started = time.perf_counter()
        outcome = prune_checkpoint(
            out=Path(tmp) / "prune", checkpoint=p["checkpoint"], cfg=trial_config(p),
            recipe=trial_recipe(p) or get_recipe("course"), data_dir=p.get("data_dir"),
            train_limit=p.get("train_limit"), test_limit=p.get("test_limit"),
            score_samples=int(p.get("score_samples", 256)), seed=p.get("seed"),
            teacher=p.get("teacher"))
        prune_seconds = time.perf_counter() - started
        result = export(out=Path(tmp) / "export", cfg=ExportConfig(to="tflite"),
                        checkpoint=Path(tmp) / "prune" / "model.safetensors",
                        data_dir=p.get("data_dir"), log=lambda _msg: None)
    tfl = result.report["tflite"]
    return {**summary(outcome), "prune_seconds": prune_seconds,
            "recipe": outcome.meta["prune"]["recipe"],
            "float_top1": result.report["float_top1"], "int8_top1": tfl["tflm_top1"],
            "int8_gap_points": result.report["float_top1"] - tfl["tflm_top1"],
            "int8_eval_images": tfl["eval_images"],
            "reference_vs_tflm_mismatched_images": tfl["reference_vs_tflm_mismatched_images"]}
