from __future__ import annotations

import pytest
import torch
from prune_helpers import tiny_batch, tiny_net
from torch import nn

from tinydeploy.checkpoint import load_checkpoint, save_checkpoint
from tinydeploy.models import ModelSpec
from tinydeploy.prune import nm
from tinydeploy.prune.engine import Granularity, PruneConfig, prune_model
from tinydeploy.prune.masks import get_masks, prunable_layers
from tinydeploy.prune.structured import RESTORE_HOOK, physically_remove


def test_conv_rows_are_ohwi_with_in_channels_fastest():
    w = torch.arange(2 * 3 * 2 * 2).reshape(2, 3, 2, 2)  # O, I, KH, KW
    rows = nm.to_rows(w)
    assert rows[0, :4].tolist() == [w[0, 0, 0, 0], w[0, 1, 0, 0], w[0, 2, 0, 0], w[0, 0, 0, 1]]
    assert torch.equal(nm.from_rows(rows, w.shape), w)


@pytest.mark.parametrize(("n", "m"), [(2, 4), (1, 4), (2, 8), (3, 5)])
def test_nm_mask_has_n_per_group_in_kernel_order(n, m):
    torch.manual_seed(0)
    scores = torch.rand(4, 3, 3, 3)  # K = 27: not a multiple of M
    mask = nm.nm_mask(scores, n, m)
    counts = nm.nm_group_counts(mask, m)
    k = 27
    full = k // m
    assert (counts[:, :full] == n).all()
    if k % m:
        assert (counts[:, full] == min(n, k % m)).all()
    # the kept entries are the N best of their group, in OHWI order
    rows, srows = nm.to_rows(mask), nm.to_rows(scores)
    for g in range(full):
        grp = slice(g * m, (g + 1) * m)
        top = srows[0, grp].topk(n).indices
        assert rows[0, grp][top].sum() == n


def test_nm_linear_and_engine_on_all_layers():
    net = tiny_net()
    prune_model(net, PruneConfig(method="magnitude", granularity="nm:2:4"), tiny_batch())
    for name, layer in prunable_layers(net).items():
        assert nm.satisfies_nm(layer.weight, 2, 4), name
        counts = nm.nm_group_counts(layer.weight, 4)
        k = nm.to_rows(layer.weight).shape[1]
        assert (counts[:, : k // 4] == 2).all(), name


def test_granularity_parse_errors():
    assert Granularity.parse("nm:2:4") == Granularity("nm", 2, 4)
    from tinydeploy.errors import TinydeployError

    for bad in ("nm:3:2", "nm:x:4", "blocks"):
        with pytest.raises(TinydeployError):
            Granularity.parse(bad)


def _channel_pruned(method="l1"):
    net = tiny_net()
    with torch.no_grad():  # non-zero biases make the bias masking matter
        for layer in prunable_layers(net).values():
            layer.bias.uniform_(-0.5, 0.5)
    prune_model(net, PruneConfig(method=method, sparsity=0.5, scope="layerwise",
                                 granularity="channel"), tiny_batch())
    return net


def test_channel_removal_keeps_outputs_and_kept_channels():
    net = _channel_pruned()
    x = tiny_batch(8, seed=3).x
    small, summary = physically_remove(net)
    assert summary["conv1"] == {"before": 8, "after": 4}
    assert summary["fc1"]["after"] == 32 and summary["fc2"]["after"] == 10
    assert small.conv2.in_channels == 4 and small.fc1.in_features == 8 * 2 * 2
    net.eval()
    small.eval()
    with torch.no_grad():
        assert torch.allclose(net(x), small(x), atol=1e-5)
        kept = get_masks(net)["conv1"].reshape(8, -1).any(1)
        assert torch.allclose(net.conv1(x)[:, kept], small.conv1(x), atol=1e-6)


def test_physically_removed_checkpoint_round_trips(tmp_path):
    small, _ = physically_remove(_channel_pruned("thinet"))
    spec = ModelSpec(input_shape=(1, 8, 8), num_classes=10)
    save_checkpoint(small, tmp_path / "model", {"model": spec.to_dict(),
                                                "restore_hooks": [RESTORE_HOOK]})
    loaded, _ = load_checkpoint(tmp_path / "model")
    x = tiny_batch(4).x
    small.eval()
    with torch.no_grad():
        assert torch.equal(loaded(x), small(x))
    assert isinstance(loaded.conv1, nn.Conv2d) and loaded.conv1.out_channels == 4
