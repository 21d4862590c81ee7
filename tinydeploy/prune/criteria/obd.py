"""OBD, optimal brain damage (LeCun et al., 1990): saliency h_kk * w_k^2 / 2 with h_kk the
diagonal of the loss Hessian on a data batch. Exact (one Hessian row per weight, by double
backprop) for layers with at most `exact_max` weights, else Hutchinson's estimate
diag(H) ~ E[z * Hz] with Rademacher z (`samples` probes), or forced by `method`."""

from __future__ import annotations

import torch

from tinydeploy.errors import unknown_choice
from tinydeploy.prune.criteria import register
from tinydeploy.prune.criteria.base import Criterion, effective_weight, eval_mode, loss_on
from tinydeploy.prune.masks import weight_param

METHODS = ("auto", "exact", "hutchinson")


@register
class ObdCriterion(Criterion):
    name = "obd"
    needs_data = True
    needs_labels = True

    def __init__(self, seed: int = 0, method: str = "auto", exact_max: int = 128,
                 samples: int = 16) -> None:
        super().__init__(seed)
        if method not in METHODS:
            raise unknown_choice("OBD Hessian method", method, METHODS)
        self.method, self.exact_max, self.samples = method, exact_max, samples

    def scores(self, model, layers, batch):
        params = [weight_param(layer) for layer in layers.values()]
        names = list(layers)
        gen = torch.Generator().manual_seed(self.seed)
        with eval_mode(model):
            grads = torch.autograd.grad(loss_on(model, batch), params, create_graph=True)
            exact = [self.method == "exact" or (self.method == "auto" and p.numel()
                                                  <= self.exact_max) for p in params]
            diag = {n: self._exact(p, g) for n, p, g, e in
                    zip(names, params, grads, exact, strict=True) if e}
            rest = [i for i, e in enumerate(exact) if not e]
            if rest:  # one Hessian-vector product per probe for all these layers at once
                diag.update(self._hutchinson([names[i] for i in rest], [params[i] for i in rest],
                                             [grads[i] for i in rest], gen))
        return {n: diag[n] * effective_weight(layer).pow(2) / 2 for n, layer in layers.items()}

    @staticmethod
    def _exact(p, g):
        flat = g.reshape(-1)
        out = torch.empty(flat.numel())
        for i in range(flat.numel()):
            (row,) = torch.autograd.grad(flat[i], p, retain_graph=True)
            out[i] = row.reshape(-1)[i]
        return out.reshape(p.shape)

    def _hutchinson(self, names, params, grads, gen):
        acc = [torch.zeros_like(p) for p in params]
        for _ in range(self.samples):
            zs = [torch.randint(0, 2, p.shape, generator=gen).to(p.dtype) * 2 - 1 for p in params]
            hz = torch.autograd.grad(grads, params, grad_outputs=zs, retain_graph=True)
            for a, z, h in zip(acc, zs, hz, strict=True):
                a += z * h
        return {n: (a / self.samples).detach() for n, a in zip(names, acc, strict=True)}
