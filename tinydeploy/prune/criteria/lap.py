"""LAP, lookahead pruning (Park et al., 2020): |w| times the norm of the previous layer's
weights producing the weight's input and the norm of the next layer's weights reading its
output. First and last layers use 1 for the missing side. Needs a chain model."""

from __future__ import annotations

import torch
from torch import nn

from tinydeploy.prune.criteria import register
from tinydeploy.prune.criteria.base import Criterion, effective_weight
from tinydeploy.prune.graph import chain_links, consumer_view
from tinydeploy.prune.masks import prunable_layers


@register
class LapCriterion(Criterion):
    name = "lap"

    def scores(self, model, layers, batch):
        all_layers = prunable_layers(model)
        links = chain_links(model)
        out = {}
        for n, layer in layers.items():
            w = effective_weight(layer)
            score = w.abs()
            for link in links:
                if link.consumer == n:  # inputs come from link.producer
                    prev = effective_weight(all_layers[link.producer])
                    norms = prev.reshape(prev.shape[0], -1).norm(dim=1)
                    per_input = norms.repeat_interleave(link.group)
                    if link.depthwise:  # depthwise channel c reads input channel c
                        shape = (-1, 1, 1, 1)
                    else:
                        shape = (1, -1, 1, 1) if isinstance(layer, nn.Conv2d) else (1, -1)
                    score = score * per_input.reshape(shape)
                if link.producer == n:  # outputs feed link.consumer
                    nxt = consumer_view(effective_weight(all_layers[link.consumer]), link)
                    per_output = nxt.transpose(0, 1).reshape(nxt.shape[1], -1).norm(dim=1)
                    score = score * per_output.reshape((-1,) + (1,) * (w.dim() - 1))
            out[n] = torch.as_tensor(score)
        return out
