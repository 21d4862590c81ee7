"""GraSP's temperature: the loss is the cross-entropy of logits / T in both the gradient and the
Hessian-gradient pass (T = 200 in the authors' code; T = 1 is the raw-logit score)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from prune_helpers import tiny_batch, tiny_net
from torch import nn

from tinydeploy.errors import TinydeployError
from tinydeploy.prune.criteria import Batch, get_criterion
from tinydeploy.prune.engine import PruneConfig, prune_model
from tinydeploy.prune.masks import get_masks, prunable_layers

# Linear 3 -> 2 without bias. Sample 0 is confidently right at T = 1 (logit margin 10.5, so
# p = e_y to 3e-5) and is the only one reading input 0; sample 1 reads inputs 1 and 2.
W = np.array([[2.0, 0.5, -1.0], [-1.5, 1.0, 0.3]])
X = np.array([[3.0, 0.0, 0.0], [0.0, 1.0, 2.0]])
Y = np.array([0, 1])
# weights and samples where no sample saturates
W_SOFT = np.array([[0.4, -0.7, 0.2], [0.1, 0.3, -0.5]])
X_SOFT = np.array([[1.0, -2.0, 0.5], [0.3, 0.8, -1.2]])
Y_SOFT = np.array([1, 0])


def closed_form_grasp(w: np.ndarray, x: np.ndarray, y: np.ndarray, t: float) -> np.ndarray:
    """w * (H g) of L(w) = mean_n CE(w x_n / t, y_n), written out for a linear layer:
    g = mean_n (p_n - e_yn) x_n^T / t and H v = mean_n (diag p_n - p_n p_n^T)(v x_n) x_n^T / t^2
    (the logits are linear in w, so the Gauss-Newton term is the whole Hessian)."""
    n, k = len(x), w.shape[0]
    z = x @ w.T / t
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    g = (p - np.eye(k)[y]).T @ x / (n * t)
    hg = np.zeros_like(w)
    for pn, xn in zip(p, x, strict=True):
        curvature = np.diag(pn) - np.outer(pn, pn)
        hg += np.outer(curvature @ (g @ xn), xn) / (n * t**2)
    return w * hg


def _linear(w: np.ndarray) -> nn.Module:
    net = nn.Sequential(nn.Linear(w.shape[1], w.shape[0], bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(w))
    return net


def _batch(x: np.ndarray, y: np.ndarray) -> Batch:
    return Batch(torch.from_numpy(x).float(), torch.from_numpy(y))


@pytest.mark.parametrize("t", [1.0, 200.0])
@pytest.mark.parametrize(("w", "x", "y"), [(W, X, Y), (W_SOFT, X_SOFT, Y_SOFT)],
                         ids=["saturated", "soft"])
def test_grasp_matches_the_closed_form_at_temperature(t, w, x, y):
    net = _linear(w)
    scores = get_criterion("grasp", temperature=t).scores(net, prunable_layers(net), _batch(x, y))
    expected = closed_form_grasp(w, x, y, t)
    np.testing.assert_allclose(scores["0"].numpy(), expected, rtol=1e-4,
                               atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("t", [1.0, 200.0])
def test_grasp_by_hand_on_one_sample(t):
    # w = [[t ln 3, 0, 0], [0, 0, 0]], x = (1, 0, 0), label 0: logits / t = (ln 3, 0), so
    # p = (3/4, 1/4) whatever t; g = (p - e_0) x^T / t = [[-1/4], [1/4]] / t in column 0;
    # H g = (diag p - p p^T)(g x) x^T / t^2 = 3/16 [[1, -1], [-1, 1]] (-1/4, 1/4) / t^3
    #     = (-3/32, 3/32) / t^3 in column 0; score = w * H g = -3 ln 3 / (32 t^2) at [0, 0].
    w = np.zeros((2, 3))
    w[0, 0] = t * np.log(3.0)
    net = _linear(w)
    x, y = np.array([[1.0, 0.0, 0.0]]), np.array([0])
    scores = get_criterion("grasp", temperature=t).scores(net, prunable_layers(net), _batch(x, y))
    expected = np.zeros((2, 3))
    expected[0, 0] = -3 * np.log(3.0) / (32 * t**2)
    np.testing.assert_allclose(scores["0"].numpy(), expected, rtol=1e-5, atol=0)
    np.testing.assert_allclose(closed_form_grasp(w, x, y, t), expected, rtol=1e-12, atol=0)


def _kept(t: float) -> set[tuple[int, int]]:
    net = _linear(W)
    prune_model(net, PruneConfig(method="grasp", sparsity=0.5,
                                 criterion_kwargs={"temperature": t}), _batch(X, Y))
    return {(int(i), int(j)) for i, j in torch.nonzero(get_masks(net)["0"])}


def _top3(scores: np.ndarray) -> set[tuple[int, int]]:
    flat = np.argsort(-scores.reshape(-1), kind="stable")[:3]
    return {divmod(int(i), scores.shape[1]) for i in flat}


def test_temperature_changes_the_kept_set_where_a_sample_saturates():
    # At T = 1 the confident sample has no residual and no curvature, so the weights only it
    # reads (column 0) score ~0 and outrank sample 1's negative scores: column 0 is kept.
    # At T = 200 the softmax is flat, that sample (the largest input) dominates and its
    # weights get the most negative scores: column 0 goes first.
    raw, tempered = _kept(1.0), _kept(200.0)
    assert raw == _top3(closed_form_grasp(W, X, Y, 1.0)) == {(0, 0), (1, 0), (0, 1)}
    assert tempered == _top3(closed_form_grasp(W, X, Y, 200.0)) == {(0, 1), (1, 1), (1, 2)}


def _func_score(net: nn.Module, batch: Batch, t: float) -> dict[str, torch.Tensor]:
    """w * (H g) through torch.func (forward-over-reverse), independent of the criterion's
    double backward, with the loss of logits / t."""
    layers = prunable_layers(net)
    names = [f"{n}.weight" for n in layers]
    fixed = {n: p.detach() for n, p in net.named_parameters()}

    def loss(weights: dict[str, torch.Tensor]) -> torch.Tensor:
        out = torch.func.functional_call(net, {**fixed, **weights}, (batch.x,))
        return nn.functional.cross_entropy(out / t, batch.y)

    w = {n: fixed[n] for n in names}
    g = torch.func.grad(loss)(w)
    _, hg = torch.func.jvp(torch.func.grad(loss), (w,), (g,))
    return {n: w[f"{n}.weight"] * hg[f"{n}.weight"] for n in layers}


@pytest.mark.parametrize("t", [1.0, 200.0])
def test_grasp_on_tinynet_matches_an_independent_hessian_gradient_product(t):
    net, batch = tiny_net(), tiny_batch()
    net.eval()  # the criterion scores in eval mode
    expected = _func_score(net, batch, t)
    scores = get_criterion("grasp", temperature=t).scores(net, prunable_layers(net), batch)
    for n, e in expected.items():
        assert torch.allclose(scores[n], e, rtol=1e-3, atol=1e-4 * float(e.abs().max())), n


def test_default_temperature_is_the_authors_200():
    net, batch = tiny_net(), tiny_batch()
    layers = prunable_layers(net)
    default = get_criterion("grasp").scores(net, layers, batch)
    at_200 = get_criterion("grasp", temperature=200).scores(net, layers, batch)
    raw = get_criterion("grasp", temperature=1).scores(net, layers, batch)
    assert get_criterion("grasp").temperature == 200.0
    assert all(torch.equal(default[n], at_200[n]) for n in layers)
    assert not all(torch.allclose(default[n], raw[n]) for n in layers)


@pytest.mark.parametrize("t", [0.0, -1.0, float("nan")])
def test_non_positive_temperature_is_refused(t):
    with pytest.raises(TinydeployError, match="temperature must be > 0"):
        get_criterion("grasp", temperature=t)
