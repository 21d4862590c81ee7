"""Channel pruning through depthwise convs and batch norms (DS-CNN, MobileNetV1, the FC
autoencoder), and clear refusals for ResNet-8's residual adds and ThiNet on depthwise."""

from __future__ import annotations

import pytest
import torch
from mlperf_models import SHAPES, seeded_model

from tinydeploy.errors import TinydeployError
from tinydeploy.models.registry import BUILTIN_MODELS, count_parameters
from tinydeploy.prune.criteria.base import Batch
from tinydeploy.prune.engine import PruneConfig, prune_model
from tinydeploy.prune.graph import chain_links, tied_layers
from tinydeploy.prune.masks import current_mask, prunable_layers
from tinydeploy.prune.structured import physically_remove, restore_model


def _channel_prune(name: str, method: str = "magnitude", sparsity: float = 0.5):
    model = seeded_model(name)
    cfg = PruneConfig(method=method, sparsity=sparsity, scope="layerwise",
                      granularity="channel")
    prune_model(model, cfg, input_shape=SHAPES[name][0])
    return model


def test_dscnn_depthwise_follows_its_producer():
    model = _channel_prune("dscnn")
    layers = prunable_layers(model)
    tied = tied_layers(chain_links(model))
    assert tied == {"features.0.layer": "stem.layer", "features.2.layer": "features.1.layer",
                    "features.4.layer": "features.3.layer", "features.6.layer": "features.5.layer"}
    for dw, producer in tied.items():
        kept = current_mask(layers[producer]).flatten(1).sum(1) > 0
        dw_kept = current_mask(layers[dw]).flatten(1).sum(1) > 0
        assert torch.equal(kept, dw_kept) and int(kept.sum()) == 32
        assert torch.equal(current_mask(layers[dw], "bias") > 0, kept)
    # the pointwise conv after each depthwise reads only the kept channels
    pw_cols = current_mask(layers["features.1.layer"]).sum((0, 2, 3)) > 0
    assert torch.equal(pw_cols, current_mask(layers["stem.layer"]).flatten(1).sum(1) > 0)


@pytest.mark.parametrize(("name", "method"), [("dscnn", "magnitude"), ("dscnn", "lap"),
                                              ("mobilenet_v1_025", "magnitude"),
                                              ("fc_autoencoder", "magnitude")])
def test_physical_removal_is_exact_through_batchnorm_and_depthwise(name: str, method: str):
    model = _channel_prune(name, method)
    small, summary = physically_remove(model)
    small.eval()
    assert count_parameters(small) < count_parameters(model) / 2
    x = torch.randn(3, *SHAPES[name][0])
    with torch.no_grad():
        torch.testing.assert_close(small(x), model(x), rtol=1e-4, atol=1e-5)
    # a fresh model takes the smaller shapes from the stored weights (checkpoint restore)
    fresh = BUILTIN_MODELS[name]()
    state = small.state_dict()
    restore_model(fresh, state, {})
    fresh.load_state_dict(state)
    with torch.no_grad():
        torch.testing.assert_close(fresh.eval()(x), small(x))
    if name == "dscnn":
        dw = small.features[0].layer
        assert dw.groups == dw.in_channels == dw.out_channels == 32
        assert summary["features.0.layer"] == {"before": 64, "after": 32}
        assert small.features[0].bn.num_features == 32


def test_explicit_depthwise_layer_is_refused_for_channel_pruning():
    model = seeded_model("dscnn")
    cfg = PruneConfig(sparsity=0.5, scope="layerwise", granularity="channel",
                      layers=("features.0.layer",))
    with pytest.raises(TinydeployError, match=r"depthwise conv: its channels are those of "
                                              r"stem\.layer"):
        prune_model(model, cfg)


def test_resnet8_residual_adds_are_refused_by_name_unstructured_works():
    model = seeded_model("resnet8")
    with pytest.raises(TinydeployError, match="ResNet8 is not a chain model"):
        prune_model(model, PruneConfig(sparsity=0.5, granularity="channel"))
    prune_model(model, PruneConfig(sparsity=0.5, granularity="unstructured"))
    prune_model(model, PruneConfig(granularity="nm:2:4"))


def test_thinet_refuses_a_depthwise_consumer():
    model = seeded_model("dscnn")
    batch = Batch(torch.randn(8, 1, 49, 10), torch.zeros(8, dtype=torch.long))
    cfg = PruneConfig(method="thinet", sparsity=0.5, scope="layerwise", granularity="channel")
    with pytest.raises(TinydeployError, match="feeds the depthwise conv"):
        prune_model(model, cfg, batch)
