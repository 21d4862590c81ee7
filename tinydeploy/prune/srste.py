"""SR-STE (Zhou et al. 2021, "Learning N:M fine-grained structured sparse neural networks
from scratch"): train with the N:M pattern recomputed from the weights' magnitudes at every
forward pass, so the pattern itself is learned.

Forward uses w * mask(w), mask keeping the N largest |w| of every group of M (the groups the
C kernels read, `tinydeploy.prune.nm`). Backward is straight-through to the dense weights
plus the sparse-refined term: grad(w) = grad(w~) + decay * (1 - mask) * w, which pulls the
pruned weights towards zero so the pattern settles. After training, the pattern of the final
weights becomes an ordinary fixed mask (`tinydeploy.prune.masks`), exactly N:M.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from tinydeploy.errors import TinydeployError
from tinydeploy.prune.engine import PruneConfig
from tinydeploy.prune.masks import prunable_layers, set_mask
from tinydeploy.prune.nm import nm_mask
from tinydeploy.train.trainer import Objective, TrainConfig, train


class _SparseRefinedSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w: Tensor, mask: Tensor, decay: float) -> Tensor:
        ctx.save_for_backward(w, mask)
        ctx.decay = decay
        return w * mask

    @staticmethod
    def backward(ctx, grad: Tensor):
        w, mask = ctx.saved_tensors
        return grad + ctx.decay * (1.0 - mask) * w, None, None


class LearnedNM(nn.Module):
    """Parametrization: the N:M pattern of the current weights, SR-STE gradients."""

    def __init__(self, n: int, m: int, decay: float) -> None:
        super().__init__()
        self.n, self.m, self.decay = n, m, decay

    def forward(self, w: Tensor) -> Tensor:
        mask = nm_mask(w.detach().abs(), self.n, self.m).to(w.dtype)
        return _SparseRefinedSTE.apply(w, mask, self.decay)


def srste_train(model: nn.Module, cfg: PruneConfig, data, finetune: TrainConfig, *,
                decay: float = 2e-4, objective: Objective | None = None,
                log: Callable[[str], None] | None = None, progress=None) -> dict[str, Any]:
    """Train `model` (in place) with learned N:M patterns on `cfg`'s layers, then fix the
    final pattern as masks. `data` is a `tinydeploy.prune.schedules.PruneData`."""
    gran = cfg.gran
    layers = prunable_layers(model)
    names = list(cfg.layers or layers)
    for name in names:
        if parametrize.is_parametrized(layers[name], "weight"):
            raise TinydeployError(f"SR-STE needs unpruned layers; {name} is already masked")
    for name in names:
        parametrize.register_parametrization(layers[name], "weight",
                                             LearnedNM(gran.n, gran.m, decay), unsafe=True)
    result = None
    try:
        if finetune.epochs > 0:
            # the pattern moves until the end: the best epoch is the last one's weights
            result = train(model, data.train_loader, data.val_loader,
                           replace(finetune, patience=0, restore_best=False),
                           objective=objective, progress=progress, log=log)
    finally:
        for name in names:
            parametrize.remove_parametrizations(layers[name], "weight",
                                                leave_parametrized=False)
    for name in names:
        weight = layers[name].weight.detach()
        set_mask(layers[name], nm_mask(weight.abs(), gran.n, gran.m))
    if result is None:
        return {"epochs": 0}
    return {"epochs": len(result.history), "final_val_top1": result.history[-1].val_acc,
            "seconds": result.seconds}
