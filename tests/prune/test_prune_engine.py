from __future__ import annotations

import pytest
import torch
from prune_helpers import tiny_batch, tiny_net

from tinydeploy.errors import TinydeployError
from tinydeploy.prune.engine import PruneConfig, compression_to_sparsity, prune_model
from tinydeploy.prune.masks import get_masks, prunable_layers
from tinydeploy.prune.report import report_markdown, sparsity_report
from tinydeploy.prune.schedules import (
    PruneData,
    Schedule,
    finetune_config,
    load_rewind,
    run_schedule,
)
from tinydeploy.train.loaders import ArrayLoader

SHAPE = (1, 8, 8)


def _weights(net):
    return {n: layer.weight for n, layer in prunable_layers(net).items()}


def test_global_scope_hits_the_global_target_exactly():
    net = tiny_net()
    req = prune_model(net, PruneConfig(method="magnitude", sparsity=0.8), tiny_batch())
    rep = sparsity_report(net, SHAPE, req, requested_global=0.8)
    total = sum(w.numel() for w in _weights(net).values())
    assert rep["global"]["nonzeros"] == round(0.2 * total)
    assert abs(rep["global"]["compression_error"]) < 1e-3
    # per-layer sparsities differ under a global threshold
    assert len({round(r["achieved_sparsity"], 2) for r in rep["layers"]}) > 1


def test_layerwise_scope_prunes_every_layer_equally():
    net = tiny_net()
    req = prune_model(net, PruneConfig(method="lamp", sparsity=0.75, scope="layerwise"))
    rep = sparsity_report(net, SHAPE, req)
    for row in rep["layers"]:
        assert row["nonzeros"] == round(0.25 * row["weights"])
        assert row["requested_sparsity"] == 0.75


def test_explicit_ratios_touch_only_listed_layers():
    net = tiny_net()
    prune_model(net, PruneConfig(scope="explicit", layer_sparsity={"conv2": 0.5, "fc1": 0.9}))
    assert set(get_masks(net)) == {"conv2", "fc1"}
    assert float((net.fc1.weight == 0).float().mean()) == pytest.approx(0.9, abs=1e-3)
    assert (net.conv1.weight != 0).all()
    with pytest.raises(TinydeployError, match="unknown layer 'fc9'"):
        PruneConfig(scope="explicit", layer_sparsity={"fc9": 0.5}) and prune_model(
            tiny_net(), PruneConfig(scope="explicit", layer_sparsity={"fc9": 0.5}))


def test_collapse_is_reported_and_prevented():
    net = tiny_net()
    with torch.no_grad():
        net.conv1.weight.mul_(1e-4)  # tiny weights: a global threshold wipes the layer
    req = prune_model(net, PruneConfig(method="magnitude", sparsity=0.95), tiny_batch())
    rep = sparsity_report(net, SHAPE, req)
    assert any("conv1" in w and "collapse" in w for w in rep["warnings"])
    net = tiny_net()
    with torch.no_grad():
        net.conv1.weight.mul_(1e-4)
    prune_model(net, PruneConfig(method="magnitude", sparsity=0.95, prevent_collapse=2))
    for name, w in _weights(net).items():
        assert ((w != 0).reshape(w.shape[0], -1).sum(1) >= 2).all(), name
    assert sparsity_report(net, SHAPE)["warnings"] == []


def test_iterative_rounds_never_regrow_and_reach_the_target():
    net = tiny_net()
    prune_model(net, PruneConfig(method="magnitude", sparsity=0.5))
    first = get_masks(net)
    prune_model(net, PruneConfig(method="random", sparsity=0.9, rounds=5))
    for n, m in get_masks(net).items():
        assert (m <= first[n]).all()
    total = sum(m.numel() for m in first.values())
    assert sum(int(m.sum()) for m in get_masks(net).values()) == round(0.1 * total)


def test_bad_configs_are_user_errors():
    with pytest.raises(TinydeployError, match="sparsity"):
        PruneConfig(sparsity=1.5)
    with pytest.raises(TinydeployError, match="scope"):
        PruneConfig(scope="everywhere")
    with pytest.raises(TinydeployError, match="compression"):
        compression_to_sparsity(0.5)
    assert compression_to_sparsity(32) == pytest.approx(1 - 1 / 32)
    with pytest.raises(TinydeployError, match="channel"):
        prune_model(tiny_net(), PruneConfig(method="l1"))
    with pytest.raises(TinydeployError, match="data batch"):
        prune_model(tiny_net(), PruneConfig(method="snip"))
    for bad in ("weekly", "iterative:0", "gradual:0", "gradual:x", "oneshot:2"):
        with pytest.raises(TinydeployError):
            Schedule.parse(bad)
    assert Schedule.parse("iterative:5") == Schedule("iterative", 5)


def _data():
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 255, (64, 1, 8, 8), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, 10, (64,), generator=gen)
    return PruneData(ArrayLoader(images, labels, 16, shuffle=True), None, tiny_batch(), SHAPE)


def test_gradual_schedule_reaches_the_target_with_masks_guarded():
    net = tiny_net()
    ft = finetune_config(epochs=3, val_size=0, patience=0)
    out = run_schedule(net, PruneConfig(method="magnitude", sparsity=0.8), Schedule("gradual"),
                       _data(), ft)
    rep = sparsity_report(net, SHAPE)
    assert rep["global"]["achieved_sparsity"] == pytest.approx(0.8, abs=1e-3)
    assert out.mask_checks == 12 and out.rounds[0]["mask_updates"] >= 5


def test_lottery_rewinds_survivors_to_the_init():
    init = tiny_net(seed=7).state_dict()
    net = tiny_net()
    out = run_schedule(net, PruneConfig(sparsity=0.6), Schedule("lottery", 2), _data(),
                       finetune_config(epochs=0, val_size=0), rewind_state=init)
    assert len(out.rounds) == 2
    masks = get_masks(net)
    for n, w in _weights(net).items():  # no training: survivors hold exactly the init values
        assert torch.equal(w, init[f"{n}.weight"] * masks[n])
    load_rewind(net, init)  # idempotent on an already rewound model
    assert sparsity_report(net, SHAPE)["global"]["achieved_sparsity"] == pytest.approx(0.6, 1e-3)


def test_report_counts_macs_and_renders_markdown():
    net = tiny_net()
    prune_model(net, PruneConfig(method="magnitude", sparsity=0.5, scope="layerwise"))
    rep = sparsity_report(net, SHAPE, {n: 0.5 for n in _weights(net)})
    conv1 = rep["layers"][0]
    assert conv1["dense_macs"] == 72 * 64  # 8x1x3x3 weights x 8x8 output positions
    assert conv1["effective_macs"] == conv1["nonzeros"] * 64
    md = report_markdown(rep)
    assert "| conv1 |" in md and "theoretical" in md
