"""Magnitude: |w|."""

from __future__ import annotations

from tinydeploy.prune.criteria import register
from tinydeploy.prune.criteria.base import Criterion, effective_weight


@register
class MagnitudeCriterion(Criterion):
    name = "magnitude"

    def scores(self, model, layers, batch):
        return {n: effective_weight(layer).abs() for n, layer in layers.items()}
