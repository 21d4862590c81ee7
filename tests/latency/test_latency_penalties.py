"""Layer sensitivity on the validation split: the Fisher penalty is the second-order loss
estimate, the magnitude penalty the squared magnitude removed; both grow with sparsity."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tinydeploy.errors import TinydeployError
from tinydeploy.latency.sensitivity import layer_penalties


def _model_and_batches():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    x = torch.randn(64, 1, 4, 4)
    y = torch.randint(0, 3, (64,))
    return model, [(x, y)]


def test_magnitude_penalty_is_the_squared_magnitude_removed():
    model, batches = _model_and_batches()
    pen, drops = layer_penalties(model, ["1"], batches, sparsities=(0.0, 0.5, 0.9),
                                 nm_patterns=("nm:2:4",), penalty="magnitude")
    w = model[1].weight.detach().flatten().abs().sort().values
    assert pen["1"]["unstructured@0.5"] == pytest.approx(0.5 * float((w[:64] ** 2).sum()))
    assert pen["1"]["unstructured@0"] == 0.0
    assert pen["1"]["unstructured@0.5"] < pen["1"]["unstructured@0.9"]
    assert set(drops["1"]) == set(pen["1"])


def test_fisher_penalty_grows_with_sparsity_and_unknown_penalty_fails():
    model, batches = _model_and_batches()
    pen, _ = layer_penalties(model, ["1", "3"], batches, sparsities=(0.0, 0.5, 0.9),
                             nm_patterns=())
    for layer in ("1", "3"):
        assert 0 < pen[layer]["unstructured@0.5"] < pen[layer]["unstructured@0.9"]
    with pytest.raises(TinydeployError, match="latency penalty"):
        layer_penalties(model, ["1"], batches, penalty="hessian")
