"""Activation-weighted magnitude: |w| * RMS of the input feature the weight reads (for convs
the RMS of its input channel over batch and positions), measured on a data batch."""

from __future__ import annotations

import torch
from torch import nn

from tinydeploy.prune.criteria import register
from tinydeploy.prune.criteria.base import Criterion, effective_weight, eval_mode


@register
class ActivationCriterion(Criterion):
    name = "activation"
    needs_data = True

    def scores(self, model, layers, batch):
        rms: dict[str, torch.Tensor] = {}

        def hook(name):
            def fn(module, inputs):
                x = inputs[0].detach()
                dims = [0, 2, 3] if x.dim() == 4 else [0]
                rms[name] = x.pow(2).mean(dim=dims).sqrt()
            return fn

        handles = [layer.register_forward_pre_hook(hook(n)) for n, layer in layers.items()]
        try:
            with eval_mode(model), torch.no_grad():
                model(batch.x)
        finally:
            for h in handles:
                h.remove()
        out = {}
        for n, layer in layers.items():
            a = rms[n]
            shape = (1, -1, 1, 1) if isinstance(layer, nn.Conv2d) else (1, -1)
            out[n] = effective_weight(layer).abs() * a.reshape(shape)
        return out
