"""GraSP (Wang et al., 2020): S = -w * (H g), with H g the Hessian-gradient product computed
by double backprop on a data batch. GraSP removes the weights with the largest S (those whose
removal least reduces gradient flow), so the importance returned here is -S = w * (H g).

Temperature: g and H are those of the cross-entropy of the logits f divided by `temperature`
T (default 200). The authors' code (`pruner/GraSP.py` of Wang et al.'s repository) divides
the network outputs by T = 200 before the loss in both passes: the one giving g, and the one
whose gradient is differentiated again (against g) for H g. It changes the kept set: per
sample (then averaged over the batch), with J = df/dw and p = softmax(f / T),
    g = J^T (p - y) / T,   H = J^T (diag p - p p^T) J / T^2 + sum_k (p_k - y_k) d2f_k / T,
so a large T flattens p and weights the network's own curvature (second term) ~T times more
against the Gauss-Newton term (MNIST TinyNet at init, 90% sparsity: the masks of T = 1 and
T = 200 overlap with IoU 0.40-0.65 over init seeds 0-4). `temperature=1` scores the raw logits
(tinydeploy's behaviour before this option). Scores shrink with T; only their order matters.
"""

from __future__ import annotations

import torch

from tinydeploy.errors import TinydeployError
from tinydeploy.prune.criteria import register
from tinydeploy.prune.criteria.base import (
    Criterion,
    effective_weight,
    eval_mode,
    loss_on,
    weight_grads,
)
from tinydeploy.prune.masks import weight_param

DEFAULT_TEMPERATURE = 200.0  # the authors' T


@register
class GraspCriterion(Criterion):
    name = "grasp"
    needs_data = True
    needs_labels = True

    def __init__(self, seed: int = 0, temperature: float = DEFAULT_TEMPERATURE) -> None:
        super().__init__(seed)
        if not temperature > 0:
            raise TinydeployError(f"GraSP temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    def scores(self, model, layers, batch):
        params = [weight_param(layer) for layer in layers.values()]
        t = self.temperature
        with eval_mode(model):
            g = [x.detach() for x in weight_grads(model, layers, batch, temperature=t).values()]
            grads = torch.autograd.grad(loss_on(model, batch, t), params, create_graph=True)
            z = sum((gi * g0).sum() for gi, g0 in zip(grads, g, strict=True))
            hg = torch.autograd.grad(z, params)
        return {n: effective_weight(layer) * h for (n, layer), h in
                zip(layers.items(), hg, strict=True)}
