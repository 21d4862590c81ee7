"""Gradient (first-order Taylor): |w * g|, with |.| taken per mini-batch chunk and averaged,
so weights whose gradient only cancels out on the whole batch still count."""

from __future__ import annotations

import torch

from tinydeploy.prune.criteria import register
from tinydeploy.prune.criteria.base import (
    Criterion,
    chunks,
    effective_weight,
    eval_mode,
    weight_grads,
)


@register
class GradientCriterion(Criterion):
    name = "gradient"
    needs_data = True
    needs_labels = True

    def __init__(self, seed: int = 0, chunk_size: int = 32) -> None:
        super().__init__(seed)
        self.chunk_size = chunk_size

    def scores(self, model, layers, batch):
        total = {n: torch.zeros_like(layer.weight, dtype=torch.float32)
                 for n, layer in layers.items()}
        count = 0
        with eval_mode(model):
            for part in chunks(batch, self.chunk_size):
                grads = weight_grads(model, layers, part)
                for n, layer in layers.items():
                    total[n] += (effective_weight(layer) * grads[n]).abs()
                count += 1
        return {n: t / max(count, 1) for n, t in total.items()}
