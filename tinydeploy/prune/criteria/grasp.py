"""GraSP (Wang et al., 2020): S = -w * (H g), with H g the Hessian-gradient product computed
by double backprop on a data batch. GraSP removes the weights with the largest S (those whose
removal least reduces gradient flow), so the importance returned here is -S = w * (H g)."""

from __future__ import annotations

import torch

from tinydeploy.prune.criteria import register
from tinydeploy.prune.criteria.base import (
    Criterion,
    effective_weight,
    eval_mode,
    loss_on,
    weight_grads,
)
from tinydeploy.prune.masks import weight_param


@register
class GraspCriterion(Criterion):
    name = "grasp"
    needs_data = True
    needs_labels = True

    def scores(self, model, layers, batch):
        params = [weight_param(layer) for layer in layers.values()]
        with eval_mode(model):
            g = [t.detach() for t in weight_grads(model, layers, batch).values()]
            grads = torch.autograd.grad(loss_on(model, batch), params, create_graph=True)
            z = sum((gi * g0).sum() for gi, g0 in zip(grads, g, strict=True))
            hg = torch.autograd.grad(z, params)
        return {n: effective_weight(layer) * h for (n, layer), h in
                zip(layers.items(), hg, strict=True)}
