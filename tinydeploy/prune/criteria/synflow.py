"""SynFlow (Tanaka et al., 2020): data-free. With every parameter replaced by its absolute
value and an all-ones input, R = sum of the network output; the score of a weight is
dR/dw * w. Run iteratively (100 rounds by default, exponential schedule of the kept fraction)
by the engine, re-scoring the masked network each round. Computed in float64: R grows
multiplicatively with depth."""

from __future__ import annotations

import torch

from tinydeploy.prune.criteria import register
from tinydeploy.prune.criteria.base import Criterion, eval_mode
from tinydeploy.prune.masks import weight_param


@register
class SynflowCriterion(Criterion):
    name = "synflow"
    default_rounds = 100

    def __init__(self, seed: int = 0, input_shape: tuple[int, ...] | None = None) -> None:
        super().__init__(seed)
        self.input_shape = input_shape

    def scores(self, model, layers, batch):
        if batch is not None:
            shape = (1, *batch.x.shape[1:])
        elif self.input_shape is not None:
            shape = (1, *self.input_shape)
        else:
            raise ValueError("synflow needs an input shape (a batch or input_shape=...)")
        saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
        dtype = next(model.parameters()).dtype
        try:
            model.double()
            with torch.no_grad():
                for p in model.parameters():
                    p.abs_()
            params = [weight_param(layer) for layer in layers.values()]
            with eval_mode(model):
                r = model(torch.ones(shape, dtype=torch.float64)).sum()
                grads = torch.autograd.grad(r, params)
            # the weight itself is the effective (masked) absolute weight
            out = {n: (layer.weight.detach() * g).float() for (n, layer), g in
                   zip(layers.items(), grads, strict=True)}
        finally:
            model.to(dtype)
            model.load_state_dict(saved)
        return out
