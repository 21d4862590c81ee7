"""Channel criteria: L1 and L2 norm of each output filter (Li et al., 2017)."""

from __future__ import annotations

from tinydeploy.prune.criteria import register
from tinydeploy.prune.criteria.base import Criterion, effective_weight


class _FilterNorm(Criterion):
    structured = True
    p = 1

    def scores(self, model, layers, batch):
        return {n: effective_weight(layer).reshape(layer.weight.shape[0], -1).norm(p=self.p, dim=1)
                for n, layer in layers.items()}


@register
class L1Filter(_FilterNorm):
    name = "l1"
    p = 1


@register
class L2Filter(_FilterNorm):
    name = "l2"
    p = 2
