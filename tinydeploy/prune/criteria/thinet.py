"""ThiNet-style reconstruction criterion (Luo et al., 2017), for channel pruning.

On a data batch, the next layer's output is the sum of the contributions of the channels it
reads. Greedily remove the channel whose removal, together with those already removed, least
changes that output (smallest squared norm of the removed contributions). The importance of a
channel is its position in that removal order, scaled to (0, 1]: the first removed scores 1/C.
Ranks are comparable within a layer only, so use it with the layer-wise or explicit scope.
(ThiNet's least-squares rescaling of the kept weights is not done here.)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tinydeploy.errors import TinydeployError
from tinydeploy.prune.criteria import register
from tinydeploy.prune.criteria.base import Criterion, capture
from tinydeploy.prune.graph import consumer_of
from tinydeploy.prune.masks import prunable_layers


def channel_contributions(consumer: nn.Module, x: Tensor, group: int) -> Tensor:
    """(channels, features): the consumer's output (bias excluded) due to each input channel."""
    w = consumer.weight.detach()
    if isinstance(consumer, nn.Conv2d):
        parts = [
            nn.functional.conv2d(x[:, c : c + 1], w[:, c : c + 1], None, consumer.stride,
                                 consumer.padding, consumer.dilation).reshape(-1)
            for c in range(x.shape[1])
        ]
    else:
        n_ch = x.shape[1] // group
        xs = x.reshape(x.shape[0], n_ch, group)
        ws = w.reshape(w.shape[0], n_ch, group)
        parts = [(xs[:, c] @ ws[:, c].T).reshape(-1) for c in range(n_ch)]
    return torch.stack(parts)


def greedy_removal_order(contrib: Tensor) -> list[int]:
    remaining = list(range(contrib.shape[0]))
    removed_sum = torch.zeros(contrib.shape[1], dtype=contrib.dtype)
    order = []
    while remaining:
        errs = torch.stack([(removed_sum + contrib[c]).pow(2).sum() for c in remaining])
        best = remaining[int(errs.argmin())]
        order.append(best)
        remaining.remove(best)
        removed_sum += contrib[best]
    return order


@register
class ThinetCriterion(Criterion):
    name = "thinet"
    needs_data = True
    structured = True

    def scores(self, model, layers, batch):
        links = consumer_of(model)
        all_layers = prunable_layers(model)
        consumers = {links[n].consumer for n in layers if n in links}
        inputs = capture(model, batch.x, {c: all_layers[c] for c in consumers}, inputs=True)
        out = {}
        for n in layers:
            if n not in links:
                raise ValueError(f"thinet: layer {n} has no following layer to reconstruct")
            link = links[n]
            if link.depthwise:
                raise TinydeployError(
                    f"thinet: layer {n} feeds the depthwise conv {link.consumer}; ThiNet "
                    "reconstructs a dense next layer (use another channel criterion)")
            contrib = channel_contributions(all_layers[link.consumer], inputs[link.consumer],
                                            link.group).double()
            order = greedy_removal_order(contrib)
            score = torch.empty(len(order))
            for rank, c in enumerate(order):
                score[c] = (rank + 1) / len(order)
            out[n] = score
        return out
