"""Learned masks with sparse-refined straight-through gradients (SR-STE, Zhou et al. 2021,
"Learning N:M fine-grained structured sparse neural networks from scratch").

The mask is recomputed from the weights' magnitudes during training, so the pattern itself is
learned and a pruned weight can come back. Forward uses w * mask(w); backward is
straight-through to the dense weights plus the sparse-refined term,
grad(w) = grad(w~) + decay * (1 - mask) * w, which pulls the pruned weights towards zero so
the pattern settles. Two kinds of mask:

- N:M: the N largest |w| of every group of M (the groups the C kernels read,
  `tinydeploy.prune.nm`), recomputed at every forward pass; with `nm_ramp` the pattern is
  reached gradually: N starts at M (dense) and falls to its target along the AGP cubic
  in sparsity over the first `prune_fraction` of the steps, so the network is never cut
  to 1 of 8 in one step;
- unstructured: the largest |w| at the scope's sparsity (one global threshold, the same
  sparsity per layer, or explicit per-layer sparsities), recomputed after every optimizer
  step, with the sparsity ramped up by the AGP cubic over the first `prune_fraction` of the
  steps (Zhu & Gupta 2017); the rest of the training keeps the target.

After training, the pattern of the final weights becomes an ordinary fixed mask
(`tinydeploy.prune.masks`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from tinydeploy.errors import TinydeployError
from tinydeploy.prune.engine import PruneConfig, requested_sparsity, target_layers
from tinydeploy.prune.masks import prunable_layers, set_mask
from tinydeploy.prune.nm import nm_mask
from tinydeploy.prune.schedules import agp_fraction
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


class LearnedMask(nn.Module):
    """Parametrization: a mask set from outside (by `MagnitudeMasks`), SR-STE gradients."""

    def __init__(self, shape: torch.Size, decay: float) -> None:
        super().__init__()
        self.decay = decay
        self.register_buffer("mask", torch.ones(shape))

    def forward(self, w: Tensor) -> Tensor:
        return _SparseRefinedSTE.apply(w, self.mask.to(w.dtype), self.decay)


class MagnitudeMasks:
    """Recomputes the unstructured masks of the learned layers from |w| at a sparsity."""

    def __init__(self, layers: Mapping[str, nn.Module], targets: Mapping[str, float],
                 global_target: float | None) -> None:
        self.layers, self.targets, self.global_target = layers, targets, global_target

    def _dense(self, name: str) -> Tensor:
        return self.layers[name].parametrizations.weight.original.detach().abs()

    def update(self, frac: float) -> None:
        """Masks at `frac` (0..1) of the way to the targets (linear in sparsity)."""
        if self.global_target is not None:  # one ranking over all layers
            dense = {n: self._dense(n) for n in self.layers}
            scores = torch.cat([d.flatten() for d in dense.values()])
            keep = scores.numel() - round(frac * self.global_target * scores.numel())
            flat = torch.zeros_like(scores)
            flat[scores.topk(max(keep, 1)).indices] = 1.0
            for name, part in zip(dense, flat.split([d.numel() for d in dense.values()]),
                                  strict=True):
                self._set(name, part.reshape(dense[name].shape))
            return
        for name in self.layers:
            w = self._dense(name).flatten()
            keep = w.numel() - round(frac * self.targets[name] * w.numel())
            mask = torch.zeros_like(w)
            mask[w.topk(max(keep, 1)).indices] = 1.0
            self._set(name, mask.reshape(self._dense(name).shape))

    def _set(self, name: str, mask: Tensor) -> None:
        for p in self.layers[name].parametrizations.weight:
            if isinstance(p, LearnedMask):
                p.mask.copy_(mask.float())


def ramped_n(n: int, m: int, frac: float) -> int:
    """N of an N:M ramp at fraction `frac` (0..1) of the way: the AGP cubic in sparsity,
    s = (1 - N/M) (1 - (1 - frac)^3), rounded to whole entries per group (M at 0, N at 1)."""
    sparsity = (1.0 - n / m) * agp_fraction(frac)
    return min(m, max(n, round(m * (1.0 - sparsity))))


def _final_mask(layer: nn.Module, gran) -> Tensor:
    learned = layer.parametrizations.weight[0]
    if isinstance(learned, LearnedNM):
        return nm_mask(layer.parametrizations.weight.original.detach().abs(), gran.n, gran.m)
    return learned.mask.detach().clone()


def srste_train(model: nn.Module, cfg: PruneConfig, data, finetune: TrainConfig, *,
                decay: float = 2e-4, prune_fraction: float = 0.7, nm_ramp: bool = False,
                objective: Objective | None = None,
                log: Callable[[str], None] | None = None, progress=None) -> dict[str, Any]:
    """Train `model` (in place) with learned masks on `cfg`'s layers (N:M or unstructured,
    ranked by magnitude), then fix the final pattern as masks. `data` is a
    `tinydeploy.prune.schedules.PruneData`."""
    gran = cfg.gran
    if gran.kind == "channel":
        raise TinydeployError("mask learning (srste) works on N:M and unstructured masks, "
                              "not channels")
    if cfg.method != "magnitude":
        raise TinydeployError(f"mask learning (srste) ranks weights by magnitude; use "
                              f"--method magnitude (got {cfg.method!r})")
    all_layers = prunable_layers(model)
    targets = requested_sparsity(model, cfg)
    names = list(target_layers(model, cfg))
    for name in names:
        if parametrize.is_parametrized(all_layers[name], "weight"):
            raise TinydeployError(f"mask learning needs unpruned layers; {name} is already "
                                  "masked")
    layers = {n: all_layers[n] for n in names}
    controller = None
    learned_nm: list[LearnedNM] = []
    for layer in layers.values():
        if gran.kind == "nm":
            learned = LearnedNM(gran.m if nm_ramp else gran.n, gran.m, decay)
            learned_nm.append(learned)
        else:
            learned = LearnedMask(layer.weight.shape, decay)
        parametrize.register_parametrization(layer, "weight", learned, unsafe=True)
    end = max(1, int(prune_fraction * finetune.epochs * len(data.train_loader)))
    step = 0
    callback = None
    if gran.kind != "nm":
        controller = MagnitudeMasks(layers, targets,
                                    cfg.sparsity if cfg.scope == "global" else None)

        def callback(_model: nn.Module) -> None:
            nonlocal step
            step += 1
            controller.update(agp_fraction(min(step, end) / end))
    elif nm_ramp:
        def callback(_model: nn.Module) -> None:
            nonlocal step
            step += 1
            for learned in learned_nm:
                learned.n = ramped_n(gran.n, gran.m, min(step, end) / end)

    result = None
    try:
        if finetune.epochs > 0:
            # the pattern moves until the end: the last epoch's weights are kept
            result = train(model, data.train_loader, data.val_loader,
                           replace(finetune, patience=0, restore_best=False),
                           step_callback=callback, objective=objective, progress=progress,
                           log=log)
        if controller is not None:
            controller.update(1.0)
        final = {n: _final_mask(layer, gran) for n, layer in layers.items()}
    finally:
        for layer in layers.values():
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=False)
    for name, layer in layers.items():
        set_mask(layer, final[name])
    if result is None:
        return {"epochs": 0}
    return {"epochs": len(result.history), "final_val_top1": result.history[-1].val_acc,
            "seconds": result.seconds}
