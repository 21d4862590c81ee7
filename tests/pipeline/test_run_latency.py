"""A `tinydeploy run` variant pruned latency-aware (objective = "latency") and deployed in
the formats its allocation chose (`allocated`), end to end on QEMU Cortex-M4."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tinydeploy.cli.main import main

CONFIG = """
[run]
name = "e2e-latency"
dataset = "mnist"
board = "qemu-m4"
samples = 20
seed = 0

# the dense model of tests/latency (`tinydeploy train --epochs 1 --train-limit 4000
# --val-size 1000`, seed 0), bit for bit: its cost points are measured on QEMU once
[train]
epochs = 1
train_limit = 4000
val_size = 1000

[export]
calib_images = 100
eval_limit = 300

[[variant]]
name = "dense"
formats = ["dense"]

[[variant]]
name = "fast"
method = "magnitude"
objective = "latency"
speedup = 1.6
latency_formats = ["dense", "csr"]
finetune_epochs = 1
finetune_lr = 1e-3
formats = ["allocated"]
"""


@pytest.mark.slow
@pytest.mark.firmware
def test_latency_variant_meets_its_speedup_on_the_device(tmp_path: Path, data_dir) -> None:
    (tmp_path / "run.toml").write_text(CONFIG)
    assert main(["run", str(tmp_path / "run.toml"), "--out", str(tmp_path / "run"),
                 "--data-dir", str(data_dir)]) == 0
    report = json.loads((tmp_path / "run" / "report" / "report.json").read_text())
    dense, fast = report["variants"]
    assert fast["id"] == "fast/allocated" and fast["output_mismatches"] == 0
    measured_speedup = dense["latency_per_inference"] / fast["latency_per_inference"]
    assert measured_speedup >= 1.6 * 0.95, measured_speedup
    assert {row["format"] for row in fast["layers"]} <= {"dense", "csr"}


@pytest.mark.parametrize(("extra", "message"), [
    ('objective = "latency"\nmethod = "magnitude"\n',
     "needs budget, speedup, max_flash, max_ram or min_accuracy"),
    ('objective = "latency"\nmethod = "magnitude"\nbudget = 2e5\nspeedup = 2.0\n',
     "budget or speedup, not both"),
    ('objective = "latency"\nspeedup = 2.0\n', "needs a method"),
    ('method = "magnitude"\nformats = ["allocated"]\n', "needs objective"),
    ('objective = "fastest"\n', "objective must be accuracy or latency"),
    ('method = "magnitude"\nrecipe = "fastest"\n', "unknown recipe 'fastest'"),
    ('method = "magnitude"\nrecipe = "course"\nfinetune_epochs = -3\n',
     "recipe epochs must be >= 0"),
    ('objective = "latency"\nmethod = "magnitude"\nspeedup = 2.0\n'
     'latency_plans = ["knapsack", "greedy"]\n', "unknown latency plan 'greedy'"),
    ('method = "magnitude"\nsparsity = 0.9\nlatency_channels = [0.5]\n',
     "latency_channels needs objective"),
    ('objective = "latency"\nmethod = "magnitude"\nspeedup = 2.0\n'
     'latency_channels = [1.5]\n', "latency_channels are fractions"),
])
def test_latency_variant_config_errors(tmp_path: Path, capsys, extra: str, message: str):
    (tmp_path / "bad.toml").write_text(f'[[variant]]\nname = "v"\n{extra}')
    assert main(["run", str(tmp_path / "bad.toml"), "--out", str(tmp_path / "r")]) == 2
    assert message in capsys.readouterr().err


def test_variant_recipe_fields_given_beside_it_override_the_recipe(tmp_path: Path):
    from tinydeploy.pipeline.config import load_config
    from tinydeploy.pipeline.runner import _variant_recipe
    from tinydeploy.prune.recipes import RECIPES

    (tmp_path / "run.toml").write_text(
        '[[variant]]\nname = "v"\nmethod = "magnitude"\nsparsity = 0.9\n'
        'recipe = "recommended"\nfinetune_epochs = 12\n')
    recipe = _variant_recipe(load_config(tmp_path / "run.toml").variants[0])
    assert recipe.epochs == 12 and recipe.name == "recommended+epochs"
    assert recipe.schedule == RECIPES["recommended"].schedule
