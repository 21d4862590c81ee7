"""Activation-weighted magnitude: |w| * RMS of the input feature the weight reads (for convs
the RMS of its input channel over batch and positions), measured on a data batch."""

from __future__ import annotations

from torch import nn

from tinydeploy.prune.criteria import register
from tinydeploy.prune.criteria.base import Criterion, capture, effective_weight


@register
class ActivationCriterion(Criterion):
    name = "activation"
    needs_data = True

    def scores(self, model, layers, batch):
        acts = capture(model, batch.x, layers, inputs=True)
        out = {}
        for n, layer in layers.items():
            x = acts[n]
            rms = x.pow(2).mean(dim=[0, 2, 3] if x.dim() == 4 else [0]).sqrt()
            shape = (1, -1, 1, 1) if isinstance(layer, nn.Conv2d) else (1, -1)
            out[n] = effective_weight(layer).abs() * rms.reshape(shape)
        return out
