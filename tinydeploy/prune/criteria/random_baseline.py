"""Random scores: the baseline every criterion must beat (seeded, so reproducible)."""

from __future__ import annotations

import torch

from tinydeploy.prune.criteria import register
from tinydeploy.prune.criteria.base import Criterion


@register
class RandomCriterion(Criterion):
    name = "random"

    def scores(self, model, layers, batch):
        gen = torch.Generator().manual_seed(self.seed)
        return {n: torch.rand(layer.weight.shape, generator=gen) for n, layer in layers.items()}
