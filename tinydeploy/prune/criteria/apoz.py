"""APoZ (Hu et al., 2016): average percentage of zeros of a channel's activation on data.
The layer's pre-activation is hooked; values <= 0 count as zeros (the ReLU that follows every
hidden layer of a chain model). Importance = 1 - APoZ."""

from __future__ import annotations

import torch

from tinydeploy.prune.criteria import register
from tinydeploy.prune.criteria.base import Criterion, eval_mode


@register
class ApozCriterion(Criterion):
    name = "apoz"
    needs_data = True
    structured = True

    def scores(self, model, layers, batch):
        out: dict[str, torch.Tensor] = {}

        def hook(name):
            def fn(module, inputs, output):
                y = output.detach()
                dims = [0, 2, 3] if y.dim() == 4 else [0]
                out[name] = 1.0 - (y <= 0).float().mean(dim=dims)
            return fn

        handles = [layer.register_forward_hook(hook(n)) for n, layer in layers.items()]
        try:
            with eval_mode(model), torch.no_grad():
                model(batch.x)
        finally:
            for h in handles:
                h.remove()
        return out
