"""LAMP (Lee et al., 2021): score(u) = w_u^2 / sum_{v >= u} w_v^2, where the weights of one
layer are sorted by magnitude and the sum runs over u and every weight not smaller than it.
The largest weight of every layer scores 1, which makes a global threshold layer-adaptive."""

from __future__ import annotations

import torch
from torch import Tensor

from tinydeploy.prune.criteria import register
from tinydeploy.prune.criteria.base import Criterion, effective_weight


def lamp_scores(weight: Tensor) -> Tensor:
    sq = weight.detach().double().flatten().pow(2)
    order = torch.argsort(sq)
    sorted_sq = sq[order]
    # suffix sums: for position i, sum of sorted_sq[i:]
    suffix = sorted_sq.flip(0).cumsum(0).flip(0)
    scores_sorted = sorted_sq / suffix.clamp_min(torch.finfo(torch.float64).tiny)
    out = torch.empty_like(sq)
    out[order] = scores_sorted
    return out.reshape(weight.shape).float()


@register
class LampCriterion(Criterion):
    name = "lamp"

    def scores(self, model, layers, batch):
        return {n: lamp_scores(effective_weight(layer)) for n, layer in layers.items()}
