from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tinydeploy.checkpoint import load_checkpoint
from tinydeploy.errors import ModelError, TinydeployError
from tinydeploy.models import ModelSpec, TinyNet, build_model, count_parameters
from tinydeploy.train.recipes import recipe_for
from tinydeploy.train.run import train_model

# Short and without augmentation, so 3 epochs on 2k images reliably learn (> 70%).
TINY = dict(epochs=3, train_limit=2048, val_size=500, batch_size=128, shift=0, rotate=0.0,
            scale=0.0, label_smoothing=0.0)


def test_tinynet_has_52138_parameters() -> None:
    model = TinyNet()
    assert count_parameters(model) == 52_138
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    assert shapes["conv1.weight"] == (8, 1, 3, 3)
    assert shapes["conv2.weight"] == (16, 8, 3, 3)
    assert shapes["fc1.weight"] == (64, 784)
    assert shapes["fc2.weight"] == (10, 64)


def test_tinynet_x2_doubles_every_width() -> None:
    """The distillation teacher `tinynet_x2`: the same layers at twice the width."""
    model = build_model(ModelSpec(name="tinynet_x2"))
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    assert shapes["conv1.weight"] == (16, 1, 3, 3)
    assert shapes["conv2.weight"] == (32, 16, 3, 3)
    assert shapes["fc1.weight"] == (128, 1568)
    assert shapes["fc2.weight"] == (10, 128)
    assert count_parameters(model) == 160 + 4_640 + 200_832 + 1_290
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="width"):
        TinyNet(width=0)


def test_user_model_by_import_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_models.py").write_text(
        "import torch.nn as nn\n"
        "class Small(nn.Module):\n"
        "    def __init__(self, num_classes=10):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(784, num_classes)\n"
        "    def forward(self, x):\n"
        "        return self.fc(x.flatten(1))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    model = build_model(ModelSpec(name="my_models:Small"))
    assert count_parameters(model) == 7850


def test_bad_model_paths_are_clear_errors() -> None:
    with pytest.raises(ModelError, match=r"cannot import model module 'no_such_pkg\.models'"):
        build_model(ModelSpec(name="no_such_pkg.models:Net"))
    with pytest.raises(ModelError, match="has no callable 'Nope'"):
        build_model(ModelSpec(name="tinydeploy.models:Nope"))
    with pytest.raises(TinydeployError, match="unknown model 'resnet'"):
        build_model(ModelSpec(name="resnet"))


def _train(out: Path, data_dir: Path, seed: int = 0):
    cfg = recipe_for("mnist", seed=seed, **TINY)
    return train_model(dataset_name="mnist", data_dir=data_dir, cfg=cfg, out=out,
                       test_limit=1000, log=lambda _: None)


def test_training_is_deterministic_and_checkpoint_roundtrips(tmp_path: Path, data_dir) -> None:
    a = _train(tmp_path / "a", data_dir)
    b = _train(tmp_path / "b", data_dir)
    ma, meta = load_checkpoint(tmp_path / "a")
    mb, _ = load_checkpoint(tmp_path / "b" / "model.safetensors")
    for (name, pa), (_, pb) in zip(ma.state_dict().items(), mb.state_dict().items(), strict=True):
        assert torch.equal(pa, pb), name
    assert a.test.top1 == b.test.top1
    assert a.test.top1 > 70  # 3 short epochs on 2k images already learn something
    assert meta["parameters"] == 52_138 and meta["seed"] == 0 and meta["dataset"] == "mnist"
    evaluation = json.loads((tmp_path / "a" / "eval.json").read_text())
    assert len(evaluation["confusion"]) == 10
    assert sum(map(sum, evaluation["confusion"])) == 1000


def test_existing_results_are_not_overwritten_without_force(tmp_path: Path, data_dir) -> None:
    _train(tmp_path, data_dir)
    before = (tmp_path / "model.safetensors").read_bytes()
    with pytest.raises(TinydeployError, match="--force"):
        _train(tmp_path, data_dir, seed=1)
    assert (tmp_path / "model.safetensors").read_bytes() == before


def test_corrupt_checkpoint_is_a_clear_error(tmp_path: Path, data_dir) -> None:
    _train(tmp_path, data_dir)
    (tmp_path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="corrupt"):
        load_checkpoint(tmp_path)
