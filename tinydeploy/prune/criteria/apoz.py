"""APoZ (Hu et al., 2016): average percentage of zeros of a channel's activation on data.
The layer's pre-activation is hooked; values <= 0 count as zeros (the ReLU that follows every
hidden layer of a chain model). Importance = 1 - APoZ."""

from __future__ import annotations

from tinydeploy.prune.criteria import register
from tinydeploy.prune.criteria.base import Criterion, capture


@register
class ApozCriterion(Criterion):
    name = "apoz"
    needs_data = True
    structured = True

    def scores(self, model, layers, batch):
        outputs = capture(model, batch.x, layers, inputs=False)
        return {n: 1.0 - (y <= 0).float().mean(dim=[0, 2, 3] if y.dim() == 4 else [0])
                for n, y in outputs.items()}
