"""Physically removing pruned channels: a smaller dense model.

`physically_remove(model)` folds the masks in, then drops every output channel of a chain
layer whose weights and bias are all zero (the channel computes exactly 0 after ReLU, pooling
and flatten) together with the next layer's inputs that read it (the `group` inputs per
channel after a flatten). The result has plain Conv2d / Linear layers of the new sizes, so it
exports like any model. Its checkpoint lists the restore hook `tinydeploy.prune.structured`,
which resizes the freshly built model's layers to the shapes stored in the weights before
they are loaded.

Caveat (documented, not detected): a channel that is dead but followed by an op mixing
channels before the next prunable layer (e.g. batch-norm with a non-zero shift) would not be
exactly zero; TinyNet-like chains (ReLU, max-pool, flatten) are fine.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from tinydeploy.prune.graph import chain_links
from tinydeploy.prune.masks import prunable_layers, remove_masks

RESTORE_HOOK = "tinydeploy.prune.structured"


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def _resized(layer: nn.Module, n_out: int, n_in: int) -> nn.Module:
    bias = layer.bias is not None
    if isinstance(layer, nn.Conv2d):
        return nn.Conv2d(n_in, n_out, layer.kernel_size, layer.stride, layer.padding,
                         layer.dilation, layer.groups, bias, layer.padding_mode)
    return nn.Linear(n_in, n_out, bias)


def dead_channels(layer: nn.Module) -> Tensor:
    """Boolean (out,): channels whose weights (and bias) are all exactly zero."""
    w = layer.weight.detach()
    dead = w.reshape(w.shape[0], -1).eq(0).all(dim=1)
    if layer.bias is not None:
        dead &= layer.bias.detach().eq(0)
    return dead


def physically_remove(model: nn.Module) -> tuple[nn.Module, dict[str, dict[str, int]]]:
    """A smaller dense copy without the dead channels of every layer but the last.

    Returns (model, {layer: {"before": channels, "after": channels}}). A layer keeps at least
    one channel (a fully dead layer keeps one zero channel so shapes stay valid)."""
    small = remove_masks(copy.deepcopy(model))
    layers = prunable_layers(small)
    links = chain_links(small)
    keep_out: dict[str, Tensor] = {}
    for link in links:
        dead = dead_channels(layers[link.producer])
        keep = (~dead).nonzero().reshape(-1)
        if keep.numel() == 0:
            keep = torch.zeros(1, dtype=torch.long)
        keep_out[link.producer] = keep
    keep_in = {link.consumer: (keep_out[link.producer][:, None] * link.group
                               + torch.arange(link.group)[None, :]).reshape(-1)
               for link in links}
    summary = {}
    for name, layer in layers.items():
        w = layer.weight.detach()
        rows = keep_out.get(name, torch.arange(w.shape[0]))
        cols = keep_in.get(name, torch.arange(w.shape[1]))
        new = _resized(layer, len(rows), len(cols))
        with torch.no_grad():
            new.weight.copy_(w[rows][:, cols])
            if layer.bias is not None:
                new.bias.copy_(layer.bias.detach()[rows])
        _set_module(small, name, new)
        summary[name] = {"before": int(w.shape[0]), "after": len(rows)}
    return small, summary


def restore_model(model: nn.Module, state: Mapping[str, Tensor], meta: Mapping[str, Any]) -> None:
    """Checkpoint restore hook: resize layers to the shapes of the stored weights."""
    for name, layer in prunable_layers(model).items():
        key = f"{name}.weight"
        if key in state and tuple(state[key].shape) != tuple(layer.weight.shape):
            n_out, n_in = state[key].shape[:2]
            _set_module(model, name, _resized(layer, int(n_out), int(n_in)))
