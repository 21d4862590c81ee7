from __future__ import annotations

import pytest
import torch
from prune_helpers import TwoLinear, tiny_batch, tiny_net
from torch import nn

from tinydeploy.errors import TinydeployError
from tinydeploy.prune.criteria import Batch, available_criteria, get_criterion
from tinydeploy.prune.criteria.lamp import lamp_scores
from tinydeploy.prune.masks import prunable_layers


def test_lamp_matches_formula_on_five_weights():
    w = torch.tensor([1.0, -3.0, 2.0, 0.5, 4.0])
    # squares sorted: 0.25, 1, 4, 9, 16 -> suffix sums 30.25, 30, 29, 25, 16
    expected = torch.tensor([1 / 30, 9 / 25, 4 / 29, 0.25 / 30.25, 1.0])
    assert torch.allclose(lamp_scores(w), expected, atol=1e-7)


def test_synflow_matches_closed_form_on_two_linear_layers():
    torch.manual_seed(0)
    w1, w2 = torch.randn(3, 4), torch.randn(2, 3)
    net = TwoLinear(w1, w2)
    scores = get_criterion("synflow").scores(net, prunable_layers(net), Batch(torch.zeros(1, 4)))
    # R = 1^T |W2| |W1| 1: dR/dW1[j,i] = sum_k |W2[k,j]|, dR/dW2[k,j] = sum_i |W1[j,i]|
    exp1 = w1.abs() * w2.abs().sum(0)[:, None]
    exp2 = w2.abs() * w1.abs().sum(1)[None, :]
    assert torch.allclose(scores["fc1"], exp1, atol=1e-6)
    assert torch.allclose(scores["fc2"], exp2, atol=1e-6)
    assert torch.equal(net.fc1.weight, w1) and torch.equal(net.fc2.weight, w2)  # signs restored


def test_lap_matches_closed_form_on_two_linear_layers():
    torch.manual_seed(1)
    w1, w2 = torch.randn(3, 4), torch.randn(2, 3)
    net = TwoLinear(w1, w2)
    scores = get_criterion("lap").scores(net, prunable_layers(net), None)
    assert torch.allclose(scores["fc1"], w1.abs() * w2.norm(dim=0)[:, None])
    assert torch.allclose(scores["fc2"], w2.abs() * w1.norm(dim=1)[None, :])


def _hessian_setup():
    torch.manual_seed(2)
    net = nn.Sequential(nn.Linear(3, 2, bias=False))
    batch = Batch(torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1]))
    w0 = net[0].weight.detach().clone()

    def loss(w):
        return nn.functional.cross_entropy(batch.x @ w.T, batch.y)

    h = torch.autograd.functional.hessian(loss, w0).reshape(6, 6)
    g = torch.autograd.grad(loss(w0.requires_grad_()), w0)[0].reshape(6)
    return net, batch, w0.detach(), h, g


def test_grasp_at_temperature_1_is_w_times_raw_logit_hessian_gradient():
    net, batch, w, h, g = _hessian_setup()  # h, g: of the loss on the raw logits
    scores = get_criterion("grasp", temperature=1).scores(net, prunable_layers(net), batch)
    # importance = -S with S = -w * Hg
    assert torch.allclose(scores["0"].reshape(6), w.reshape(6) * (h @ g), atol=1e-5)


def test_obd_exact_uses_the_hessian_diagonal():
    net, batch, w, h, _ = _hessian_setup()
    scores = get_criterion("obd", method="exact").scores(net, prunable_layers(net), batch)
    assert torch.allclose(scores["0"].reshape(6), h.diagonal() * w.reshape(6) ** 2 / 2, atol=1e-6)
    approx = get_criterion("obd", method="hutchinson", samples=400).scores(
        net, prunable_layers(net), batch)
    assert torch.allclose(approx["0"], scores["0"], atol=0.05)


def test_snip_is_normalised_connection_sensitivity():
    net, batch = tiny_net(), tiny_batch()
    scores = get_criterion("snip").scores(net, prunable_layers(net), batch)
    assert sum(float(s.sum()) for s in scores.values()) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("name", available_criteria())
def test_every_criterion_gives_finite_scores_of_the_right_shape(name):
    net, batch = tiny_net(), tiny_batch()
    layers = dict(list(prunable_layers(net).items())[:-1])  # channel criteria need a consumer
    crit = get_criterion(name)
    scores = crit.scores(net, layers, batch)
    assert set(scores) == set(layers)
    for n, layer in layers.items():
        shape = (layer.weight.shape[0],) if crit.structured else layer.weight.shape
        assert scores[n].shape == shape, n
        assert torch.isfinite(scores[n]).all(), n


def test_unknown_criterion_lists_choices():
    with pytest.raises(TinydeployError, match=r"unknown pruning method 'nope'.*lamp"):
        get_criterion("nope")
