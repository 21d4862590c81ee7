from __future__ import annotations

import pytest
import torch
from prune_helpers import tiny_batch, tiny_net
from torch.nn.utils import parametrize

from tinydeploy.checkpoint import load_checkpoint, save_checkpoint
from tinydeploy.models import ModelSpec
from tinydeploy.prune.engine import PruneConfig, prune_model
from tinydeploy.prune.masks import (
    RESTORE_HOOK,
    MaskGuard,
    MaskViolation,
    get_masks,
    make_permanent,
    prunable_layers,
    weight_param,
)
from tinydeploy.train.loaders import ArrayLoader
from tinydeploy.train.trainer import TrainConfig, train


def _pruned(sparsity=0.7):
    net = tiny_net()
    prune_model(net, PruneConfig(method="magnitude", sparsity=sparsity), tiny_batch())
    return net


def test_masks_survive_save_and_load(tmp_path):
    net = _pruned()
    spec = ModelSpec(input_shape=(1, 8, 8), num_classes=10)
    save_checkpoint(net, tmp_path / "model", {"model": spec.to_dict(),
                                              "restore_hooks": [RESTORE_HOOK]})
    loaded, _ = load_checkpoint(tmp_path / "model")
    for name, mask in get_masks(net).items():
        assert torch.equal(get_masks(loaded)[name], mask)
    x = tiny_batch(4).x
    net.eval()
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd"])
def test_pruned_weights_stay_zero_through_finetuning(optimizer):
    net = _pruned()
    before = get_masks(net)
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 255, (64, 1, 8, 8), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, 10, (64,), generator=gen)
    guard = MaskGuard()
    cfg = TrainConfig(epochs=2, batch_size=16, optimizer=optimizer, lr=1e-2, weight_decay=1e-2,
                      schedule="constant", val_size=0)
    train(net, ArrayLoader(images, labels, 16, shuffle=True), None, cfg, step_callback=guard,
          log=None)
    assert guard.checks == 8
    for name, layer in prunable_layers(net).items():
        assert torch.equal(get_masks(net)[name], before[name])
        assert (layer.weight[before[name] == 0] == 0).all()


def test_guard_detects_a_leak():
    net = _pruned()
    with torch.no_grad():
        p = weight_param(net.fc1)
        p[get_masks(net)["fc1"] == 0] = 1.0
    with pytest.raises(MaskViolation, match="fc1"):
        MaskGuard()(net)


def test_make_permanent_gives_a_plain_equal_model():
    net = _pruned()
    plain = make_permanent(net)
    assert not any(parametrize.is_parametrized(m) for m in plain.modules())
    assert parametrize.is_parametrized(net.fc1)  # the input model is untouched
    assert not any("mask" in k for k in plain.state_dict())
    x = tiny_batch(4).x
    net.eval()
    plain.eval()
    with torch.no_grad():
        assert torch.equal(plain(x), net(x))
    assert float((plain.fc1.weight == 0).float().mean()) > 0.5
