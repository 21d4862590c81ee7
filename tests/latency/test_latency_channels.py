"""Channel removal as a latency option: the knapsack follows a removal into the next layer,
the resized rows have the right shapes and parameters, the penalty counts the next layer's
inputs, and the plan realises the planned shapes and sparsities."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from tinydeploy.errors import TinydeployError
from tinydeploy.latency.allocate import Allocation, LayerOption, allocate
from tinydeploy.latency.channels import channel_plan, variant, whole_layer_sparsity
from tinydeploy.latency.prune import prune_configs, removes_channels
from tinydeploy.latency.sensitivity import layer_penalties
from tinydeploy.latency.shapes import LayerShape
from tinydeploy.models.tinynet import TinyNet
from tinydeploy.prune.engine import prune_model
from tinydeploy.prune.structured import physically_remove

MAPPING = {"conv1": "c1", "conv2": "c2", "fc1": "f1", "fc2": "f2"}
SHAPES = {"c1": LayerShape("conv", (28, 28, 1), 8, (3, 3), (1, 1), (1, 1, 1, 1), True),
          "c2": LayerShape("conv", (14, 14, 8), 16, (3, 3), (1, 1), (1, 1, 1, 1), True),
          "f1": LayerShape("fc", (784,), 64), "f2": LayerShape("fc", (64,), 10)}


def _opt(cost, pen, inputs=0, outputs=0, granularity="unstructured"):
    return LayerOption(granularity, 0.5, "dense", cost, pen, inputs=inputs, outputs=outputs)


def test_the_knapsack_only_pairs_a_removal_with_options_that_assume_it():
    # a's removal (outputs 4) is cheap and makes b cheap, but only b's inputs=4 options
    options = {"a": [_opt(1000, 0.0), _opt(500, 1.0, outputs=4, granularity="channel")],
               "b": [_opt(2000, 0.0), _opt(1000, 3.0), _opt(1000, 0.2, inputs=4),
                     _opt(400, 2.0, inputs=4)]}
    for budget in (1600, 2100, 2600, 3100):
        got = allocate(options, budget, resolution=10)
        valid = [(x, y) for x, y in itertools.product(*options.values())
                 if y.inputs == x.outputs and x.instructions + y.instructions <= budget]
        assert got.penalty == pytest.approx(min(x.penalty + y.penalty for x, y in valid))
        assert got.choice["b"].inputs == got.choice["a"].outputs
    with pytest.raises(TinydeployError, match="no allocation fits"):
        allocate({"a": [_opt(1000, 0.0)], "b": [_opt(100, 0.0, inputs=4)]}, 5000)


def test_channel_plan_of_tinynet():
    plan = channel_plan(TinyNet(), MAPPING, SHAPES, [0.25, 0.5])
    assert plan.kept == {"c1": [(0.5, 4), (0.25, 6)], "c2": [(0.5, 8), (0.25, 12)],
                         "f1": [(0.5, 32), (0.25, 48)]}  # never the classifier
    assert plan.group == {"c2": 1, "f1": 49, "f2": 1}
    assert plan.inputs_of("c1") == [0] and plan.inputs_of("f1") == [0, 8, 12]
    sparse, dense = plan.rows()
    assert sparse[variant("f1", 8)] == ("f1", 8, 0) and variant("f1", 8) == "f1~in8"
    assert dense["c2~in4~out12"] == ("c2", 4, 12) and "f2~out5" not in dense
    assert plan.resized(SHAPES, "f1", 8, 32) == LayerShape("fc", (392,), 32)
    assert plan.resized(SHAPES, "c2", 6, 0).in_shape == (14, 14, 6)
    with pytest.raises(TinydeployError, match=r"in \(0, 1\)"):
        channel_plan(TinyNet(), MAPPING, SHAPES, [1.0])


def test_sliced_parameters_fit_the_resized_shape():
    plan = channel_plan(TinyNet(), MAPPING, SHAPES, [0.5])
    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, (16, 9 * 8), dtype=np.int8)
    params = {"c2": {"weights": w, "bias": np.arange(16, dtype=np.int32),
                     "multiplier": np.arange(16, dtype=np.int32) + 100,
                     "shift": -np.ones(16, np.int32), "zero_points": np.array([-128, -5]),
                     "clamp": np.array([-128, 127])}}
    got = plan.sliced_params(params, SHAPES, "c2", 4, 8)
    # OHWI rows: per tap the first 4 of 8 input channels, the first 8 output channels
    assert np.array_equal(got["weights"], w.reshape(16, 9, 8)[:8, :, :4].reshape(8, 36))
    assert list(got["bias"]) == list(range(8)) and len(got["multiplier"]) == 8
    assert plan.resized(SHAPES, "c2", 4, 8).k == got["weights"].shape[1]


def test_the_channel_penalty_counts_the_next_layers_inputs_too():
    torch.manual_seed(0)
    model = TinyNet()
    batches = [(torch.randn(32, 1, 28, 28), torch.randint(0, 10, (32,)))]
    pen, drops = layer_penalties(model, list(MAPPING), batches, sparsities=(0.0,),
                                 nm_patterns=(), penalty="magnitude",
                                 channels={"conv2": [0.5]})
    w2 = model.conv2.weight.detach()
    norms = w2.abs().reshape(16, -1).sum(1)  # magnitude channel criterion: L1 of the filter
    gone = norms.argsort()[:8]
    f1 = model.fc1.weight.detach().reshape(64, 16, 49)
    expected = 0.5 * (float((w2[gone] ** 2).sum()) + float((f1[:, gone] ** 2).sum()))
    assert pen["conv2"]["channel@0.5"] == pytest.approx(expected, rel=1e-5)
    assert "channel@0.5" in drops["conv2"] and "channel@0.5" not in pen["conv1"]


def test_the_plan_realises_the_planned_shapes_and_sparsities():
    torch.manual_seed(0)
    model = TinyNet()
    dense = LayerOption("unstructured", 0.0, "dense", 1, 0)
    choice = {"conv1": dense, "conv2": LayerOption("channel", 0.5, "dense", 1, 0, outputs=8),
              "fc1": LayerOption("unstructured", 0.8, "csr", 1, 0, inputs=8), "fc2": dense}
    alloc = Allocation(choice, 4.0, 0.0, 10.0)
    assert removes_channels(alloc)
    out_c = {"conv1": 8, "conv2": 16, "fc1": 64, "fc2": 10}
    cfg, pre = prune_configs(alloc, "magnitude", out_c)
    assert [c.granularity for c in pre] == ["channel"]
    assert cfg.layer_sparsity["fc1"] == pytest.approx(whole_layer_sparsity(0.8, 8, 16))
    for c in [*pre, cfg]:
        prune_model(model, c)
    small, removed = physically_remove(model)
    assert removed["conv2"] == {"before": 16, "after": 8}
    fc1 = small.fc1.weight.detach()
    assert tuple(fc1.shape) == (64, 392)
    assert float((fc1 == 0).float().mean()) == pytest.approx(0.8, abs=0.002)
    with pytest.raises(TinydeployError, match="channels"):
        prune_configs(alloc, "magnitude")
