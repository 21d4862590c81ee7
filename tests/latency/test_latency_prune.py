"""`tinydeploy prune --objective latency` end to end: a briefly trained TinyNet pruned to a
speed-up on qemu-m4, exported with the allocated formats and measured on QEMU. The firmware
must run within the instruction, flash and RAM budgets and as predicted; selection never
reads the test set."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from tinydeploy.cli.main import main

pytestmark = [pytest.mark.firmware, pytest.mark.slow]


@pytest.fixture(scope="module")
def pruned(tmp_path_factory, data_dir: Path) -> dict:
    root = tmp_path_factory.mktemp("latency")
    assert main(["train", "--epochs", "1", "--train-limit", "4000", "--val-size", "1000",
                 "--data-dir", str(data_dir), "--out", str(root / "dense")]) == 0
    rc = main(["prune", "-c", str(root / "dense" / "model"), "--objective", "latency",
               "--board", "qemu-m4", "--speedup", "1.6", "--latency-formats", "dense, csr,",
               "--max-flash", "64000", "--max-ram", "4000",
               "--finetune-epochs", "1",
               "--train-limit", "4000", "--data-dir", str(data_dir),
               "--out", str(root / "pruned")])
    assert rc == 0
    assert main(["export", "-c", str(root / "pruned" / "model"), "--to", "c",
                 "--calib-images", "64", "--eval-limit", "100", "--data-dir", str(data_dir),
                 "--out", str(root / "export")]) == 0
    assert main(["firmware", "run", "--board", "qemu-m4", "--model-dir",
                 str(root / "export" / "c"), "--out", str(root / "fw")]) == 0
    return {"root": root,
            "allocation": json.loads((root / "pruned" / "latency_allocation.json").read_text()),
            "bench": json.loads((root / "fw" / "bench.json").read_text()),
            "size": json.loads((root / "export" / "c" / "size_report.json").read_text())}


def test_measured_firmware_fits_the_budget_as_predicted(pruned):
    info, bench = pruned["allocation"], pruned["bench"]
    measured = bench["measured"]["per_inference"]["instructions_mean"]
    predicted = info["allocation"]["predicted_total"]
    assert info["budget"] == pytest.approx(info["dense_measured"] / 1.6)
    assert predicted <= info["budget"]
    assert abs(measured - predicted) <= 0.05 * measured, (measured, predicted)
    assert measured <= 1.05 * info["budget"]
    per_layer = {r["name"].split("+")[0]: r["instructions_mean"]
                 for r in bench["measured"]["per_layer"]}
    for torch_name, choice in info["allocation"]["layers"].items():
        op = info["layer_map"][torch_name]
        assert abs(per_layer[op] - choice["instructions"]) <= 0.05 * per_layer[op] + 80, op


def test_flash_within_the_limit_as_predicted(pruned):
    alloc, bench = pruned["allocation"]["allocation"], pruned["bench"]
    measured = bench["flash_bytes"]["total"]
    assert alloc["max_flash"] == 64000 and alloc["predicted_flash"] <= 64000
    assert measured <= 64000
    assert abs(measured - alloc["predicted_flash"]) <= 0.02 * measured, (
        measured, alloc["predicted_flash"])


def test_peak_ram_within_the_limit_as_predicted(pruned):
    """Dense TinyNet peaks at ~4,016 B on qemu-m4: 4,000 B forces a lower-scratch format."""
    info, bench = pruned["allocation"], pruned["bench"]
    alloc = info["allocation"]
    measured = bench["ram_bytes"]["peak"]
    assert info["dense_ram"] > 4000
    assert alloc["max_ram"] == 4000 and alloc["predicted_ram"] <= 4000
    assert measured <= 4000
    assert abs(measured - alloc["predicted_ram"]) <= 64, (measured, alloc["predicted_ram"])


def test_the_firmware_uses_the_allocated_formats(pruned):
    info, size = pruned["allocation"], pruned["size"]
    chosen = {row["layer"].split("+")[0]: row["chosen"] for row in size["layers"]}
    for torch_name, choice in info["allocation"]["layers"].items():
        assert chosen[info["layer_map"][torch_name]] == choice["format"]
        assert choice["format"] in ("dense", "csr")  # --latency-formats dense,csr


def test_selection_used_the_validation_split(pruned):
    info = pruned["allocation"]
    assert info["selection_split"] == "validation" and info["selection_images"] == 1000
    meta = json.loads((pruned["root"] / "pruned" / "model.json").read_text())
    assert meta["latency"]["allocation"] == info["allocation"]


def test_candidate_plans_are_fine_tuned_and_the_best_on_validation_kept(pruned, data_dir):
    root = pruned["root"]
    out = root / "plans"
    assert main(["prune", "-c", str(root / "dense" / "model"), "--objective", "latency",
                 "--board", "qemu-m4", "--speedup", "1.6", "--latency-formats", "dense,csr",
                 "--latency-plans", "knapsack,uniform", "--finetune-epochs", "1",
                 "--train-limit", "4000", "--data-dir", str(data_dir),
                 "--out", str(out)]) == 0
    info = json.loads((out / "latency_allocation.json").read_text())
    plans = info["plans"]
    assert sorted(k for p in plans for k in p["kinds"]) == ["knapsack", "uniform"]
    assert [p["selected"] for p in plans].count(True) == 1
    kept = next(p for p in plans if p["selected"])
    assert kept["val_top1"] == max(p["val_top1"] for p in plans)
    assert kept["predicted_total"] == pytest.approx(info["allocation"]["predicted_total"],
                                                    abs=0.1)
    meta = json.loads((out / "model.json").read_text())
    assert meta["latency"]["allocation"] == info["allocation"]
    assert meta["val_top1"] == pytest.approx(kept["val_top1"])


def test_channel_removal_makes_both_layers_smaller_and_runs_as_predicted(pruned, data_dir):
    """Dense weights only: a speed-up needs channel removal; the saved model is physically
    smaller, and the firmware runs the resized layers in the instructions predicted."""
    root = pruned["root"]
    out, export, fw = root / "channels", root / "channels-export", root / "channels-fw"
    assert main(["prune", "-c", str(root / "dense" / "model"), "--objective", "latency",
                 "--board", "qemu-m4", "--speedup", "1.4", "--latency-formats", "dense",
                 "--latency-channels", "0.5", "--finetune-epochs", "1",
                 "--train-limit", "4000", "--data-dir", str(data_dir),
                 "--out", str(out)]) == 0
    assert main(["export", "-c", str(out / "model"), "--to", "c", "--calib-images", "64",
                 "--eval-limit", "100", "--data-dir", str(data_dir), "--out", str(export)]) == 0
    assert main(["firmware", "run", "--board", "qemu-m4", "--model-dir", str(export / "c"),
                 "--out", str(fw)]) == 0
    info = json.loads((out / "latency_allocation.json").read_text())
    layers = info["allocation"]["layers"]
    removed = {t: o["outputs"] for t, o in layers.items() if o["granularity"] == "channel"}
    assert removed, layers
    meta = json.loads((out / "model.json").read_text())
    for t, kept in removed.items():
        assert meta["prune"]["physically_removed"][t]["after"] == kept
    names = list(layers)
    for before, after in itertools.pairwise(names):  # each reads what was kept
        assert layers[after]["inputs"] == layers[before]["outputs"]
    bench = json.loads((fw / "bench.json").read_text())
    measured = bench["measured"]["per_inference"]["instructions_mean"]
    assert measured <= 1.01 * info["budget"]
    assert abs(measured - info["allocation"]["predicted_total"]) <= 0.02 * measured
    per_layer = {r["name"].split("+")[0]: r["instructions_mean"]
                 for r in bench["measured"]["per_layer"]}
    for t, choice in layers.items():
        op = info["layer_map"][t]
        assert abs(per_layer[op] - choice["instructions"]) <= 0.05 * per_layer[op] + 80, op
