"""`tinydeploy prune` end to end on a tiny slice of MNIST (random-init checkpoint, 1 epoch)."""

from __future__ import annotations

import json

import pytest
import torch

from tinydeploy.checkpoint import fingerprint, load_checkpoint, save_checkpoint
from tinydeploy.cli.main import main
from tinydeploy.models import ModelSpec, build_model
from tinydeploy.prune.masks import get_masks
from tinydeploy.prune.nm import satisfies_nm
from tinydeploy.prune.recipes import RECIPES
from tinydeploy.train.trainer import TrainConfig


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    spec = ModelSpec(input_shape=(1, 28, 28), num_classes=10)
    path = tmp_path_factory.mktemp("ckpt") / "model"
    cfg = TrainConfig(epochs=1, val_size=200, batch_size=64)
    save_checkpoint(build_model(spec), path, {"model": spec.to_dict(), "dataset": "mnist",
                                              "seed": 0, "train_config": cfg.to_dict()})
    return path.with_suffix(".safetensors")


def _run(checkpoint, data_dir, out, *extra):
    return main(["prune", "--checkpoint", str(checkpoint), "--finetune-epochs", "1",
                 "--train-limit", "128", "--test-limit", "100", "--score-samples", "32",
                 "--data-dir", str(data_dir), "--out", str(out), *extra])


def test_prune_cli_writes_checkpoint_and_reports(checkpoint, data_dir, tmp_path):
    out = tmp_path / "run"
    assert _run(checkpoint, data_dir, out, "--method", "lamp", "--compression", "10") == 0
    for name in ("model.safetensors", "model.json", "prune_report.json", "prune_report.md"):
        assert (out / name).is_file(), name
    report = json.loads((out / "prune_report.json").read_text())
    assert report["global"]["achieved_sparsity"] == pytest.approx(0.9, abs=1e-3)
    assert report["config"]["mask_checks"] == 2  # 128 images / batch 64, every step checked
    model, meta = load_checkpoint(out)
    assert set(get_masks(model)) == {"conv1", "conv2", "fc1", "fc2"}
    assert meta["restore_hooks"] == ["tinydeploy.prune.masks"]
    # an existing run is not overwritten without --force
    assert _run(checkpoint, data_dir, out, "--method", "lamp") == 2
    assert _run(checkpoint, data_dir, out, "--method", "lamp", "--force") == 0


def test_prune_cli_grasp_records_its_temperature(checkpoint, data_dir, tmp_path):
    def temperature(out, *extra):
        assert _run(checkpoint, data_dir, out, "--method", "grasp", "--finetune-epochs", "0",
                    *extra) == 0
        report = json.loads((out / "prune_report.json").read_text())
        return report["config"]["config"]["criterion_kwargs"]["temperature"]

    assert temperature(tmp_path / "default") == 200.0  # the authors' T, recorded
    assert temperature(tmp_path / "raw", "--grasp-temperature", "1") == 1.0
    masks = [get_masks(load_checkpoint(tmp_path / d)[0]) for d in ("default", "raw")]
    assert any(not torch.equal(masks[0][n], masks[1][n]) for n in masks[0])


def test_prune_cli_default_recipe_is_the_recommended_one(checkpoint, data_dir, tmp_path):
    assert _run(checkpoint, data_dir, tmp_path / "rec", "--sparsity", "0.8") == 0
    report = json.loads((tmp_path / "rec" / "prune_report.json").read_text())
    recipe = report["config"]["recipe"]
    assert recipe["name"] == "recommended+epochs"  # --finetune-epochs 1 overrides one field
    assert recipe == {**RECIPES["recommended"].to_dict(), "epochs": 1,
                      "name": "recommended+epochs"}
    assert report["config"]["schedule"] == RECIPES["recommended"].schedule
    assert [r.get("phase") for r in report["config"]["rounds"]] == [None, "qat"]
    # QAT measured its ranges on the export's 500 calibration images, whatever --train-limit
    assert report["config"]["rounds"][1]["calibration_images"] == 500
    assert _run(checkpoint, data_dir, tmp_path / "course", "--recipe", "course") == 0
    report = json.loads((tmp_path / "course" / "prune_report.json").read_text())
    assert report["config"]["recipe"]["name"] == "course+epochs"
    assert report["config"]["schedule"] == "oneshot"


def test_prune_cli_nm_with_the_default_recipe_masks_once_or_learns(checkpoint, data_dir,
                                                                   tmp_path):
    assert _run(checkpoint, data_dir, tmp_path / "once", "-g", "nm:2:4") == 0
    report = json.loads((tmp_path / "once" / "prune_report.json").read_text())
    assert report["config"]["schedule"] == "oneshot"  # the recipe's AGP ramp cannot do N:M
    assert _run(checkpoint, data_dir, tmp_path / "srste", "-g", "nm:2:4",
                "--mask-learning", "srste") == 0
    report = json.loads((tmp_path / "srste" / "prune_report.json").read_text())
    assert report["config"]["rounds"][0]["mask_learning"] == "srste"
    model, _ = load_checkpoint(tmp_path / "srste")
    for layer in ("conv2", "fc1"):
        assert satisfies_nm(getattr(model, layer).weight.detach(), 2, 4)


def test_prune_cli_layers_prunes_only_the_named_layers(checkpoint, data_dir, tmp_path):
    # the README's N:M rows: 1:8 on conv2, fc1 and fc2; conv1 (9 weights a row) stays dense
    assert _run(checkpoint, data_dir, tmp_path / "nm", "-g", "nm:1:8", "--layers",
                "conv2, fc1,fc2", "--finetune-epochs", "0") == 0
    model, meta = load_checkpoint(tmp_path / "nm")
    assert set(get_masks(model)) == {"conv2", "fc1", "fc2"}
    assert meta["prune"]["config"]["layers"] == ["conv2", "fc1", "fc2"]
    assert bool((model.conv1.weight != 0).all())
    for layer in ("conv2", "fc1", "fc2"):
        assert satisfies_nm(getattr(model, layer).weight.detach(), 1, 8)


def test_prune_cli_distills_from_a_given_teacher_and_names_it(checkpoint, data_dir, tmp_path):
    teacher = tmp_path / "teacher" / "model"
    spec = ModelSpec(name="tinynet_x2", input_shape=(1, 28, 28), num_classes=10)
    save_checkpoint(build_model(spec), teacher, {"model": spec.to_dict(), "dataset": "mnist"})
    assert _run(checkpoint, data_dir, tmp_path / "kd", "--distill", "--teacher",
                str(teacher.with_suffix(".safetensors"))) == 0
    named = json.loads((tmp_path / "kd" / "prune_report.json").read_text())["config"]["teacher"]
    assert named == {"checkpoint": str(teacher.with_suffix(".safetensors")),
                     "sha256_12": fingerprint(teacher), "parameters": 206_922}
    assert _run(checkpoint, data_dir, tmp_path / "self", "--distill") == 0
    named = json.loads((tmp_path / "self" / "prune_report.json").read_text())["config"]["teacher"]
    assert named == "the checkpoint before pruning"


def test_prune_cli_refuses_a_teacher_of_other_classes(checkpoint, data_dir, tmp_path, capsys):
    teacher = tmp_path / "teacher5" / "model"
    spec = ModelSpec(input_shape=(1, 28, 28), num_classes=5)
    save_checkpoint(build_model(spec), teacher, {"model": spec.to_dict(), "dataset": "mnist"})
    assert _run(checkpoint, data_dir, tmp_path / "kd", "--distill", "--teacher",
                str(teacher)) == 2
    assert "teacher's output has shape (1, 5), the student's (1, 10)" in capsys.readouterr().err
    assert not (tmp_path / "kd" / "model.safetensors").exists()


def test_prune_cli_channel_physically_removed(checkpoint, data_dir, tmp_path):
    out = tmp_path / "small"
    code = _run(checkpoint, data_dir, out, "--method", "l1", "--granularity", "channel",
                "--scope", "layerwise", "--sparsity", "0.5", "--physically-remove")
    assert code == 0
    model, _ = load_checkpoint(out)
    assert model.conv1.out_channels == 4 and model.fc1.in_features == 8 * 7 * 7


@pytest.mark.parametrize(("args", "message"), [
    (["--sparsity", "1.5"], "sparsity must be in [0, 1)"),
    (["--method", "nope"], "unknown pruning method 'nope'"),
    (["--granularity", "nm:3:2"], "N:M"),
    (["--schedule", "weekly"], "unknown schedule"),
    (["--compression", "4", "--sparsity", "0.5"], "not both"),
    (["--layer-sparsity", "fc1=high"], "bad --layer-sparsity"),
    (["--method", "snip", "--physically-remove"], "needs --granularity channel"),
    (["--recipe", "fastest"], "unknown recipe 'fastest'"),
    (["-g", "nm:2:4", "--schedule", "gradual"], "supports the oneshot schedule only"),
    (["--lr-schedule", "warmup"], "unknown fine-tune LR schedule"),
    (["--mask-learning", "srste", "--method", "lamp"], "ranks weights by magnitude"),
    (["--mask-learning", "srste", "--granularity", "channel"], "not channels"),
    (["--distill-weight", "2"], "distillation weight must be in"),
    (["--teacher", "/nowhere/teacher.safetensors", "--distill"], "teacher checkpoint"),
    (["--teacher", "/nowhere/teacher.safetensors"], "--teacher needs --distill"),
    (["--method", "snip", "--grasp-temperature", "1"], "--grasp-temperature needs --method grasp"),
    (["--method", "grasp", "--grasp-temperature", "0"], "GraSP temperature must be > 0"),
    (["--layers", "conv2,fc9"], "unknown layer 'fc9'"),
    (["--layers", ","], "--layers needs at least one layer name"),
    (["--layers", "fc1", "--objective", "latency", "--speedup", "2"],
     "--layers needs --objective accuracy"),
    # smart has its own fine-tuning: recipe options are refused, not silently dropped
    (["--method", "smart", "--distill"], "--method smart has its own fine-tuning"),
    (["--method", "smart", "-g", "nm:1:8", "--recipe", "course"],
     "it cannot use --recipe, --granularity"),
    (["--method", "smart", "--scope", "global", "--score-samples", "256"],  # defaults, given
     "it cannot use --scope, --score-samples"),
])
def test_prune_cli_bad_inputs_fail_with_one_line(checkpoint, data_dir, tmp_path, capsys, args,
                                                 message):
    assert _run(checkpoint, data_dir, tmp_path / "bad", *args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err
    assert not (tmp_path / "bad").exists()


def test_prune_cli_missing_checkpoint(data_dir, tmp_path, capsys):
    assert _run(tmp_path / "missing.safetensors", data_dir, tmp_path / "o") == 2
    assert "not found" in capsys.readouterr().err
