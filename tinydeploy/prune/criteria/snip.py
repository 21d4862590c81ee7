"""SNIP (Lee et al., 2019): connection sensitivity |g * w| on one data batch, normalised to
sum to 1 over all scored weights (the normalisation does not change the ranking)."""

from __future__ import annotations

from tinydeploy.prune.criteria import register
from tinydeploy.prune.criteria.base import Criterion, effective_weight, eval_mode, weight_grads


@register
class SnipCriterion(Criterion):
    name = "snip"
    needs_data = True
    needs_labels = True

    def scores(self, model, layers, batch):
        with eval_mode(model):
            grads = weight_grads(model, layers, batch)
        raw = {n: (effective_weight(layer) * grads[n]).abs() for n, layer in layers.items()}
        total = sum(float(s.sum()) for s in raw.values()) or 1.0
        return {n: s / total for n, s in raw.items()}
