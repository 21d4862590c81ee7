"""Physically removing pruned channels: a smaller dense model.

`physically_remove(model)` folds the masks in, then drops every output channel of a chain
layer whose weights and bias are all zero (the channel computes exactly 0 after ReLU, pooling
and flatten) together with the next layer's inputs that read it (the `group` inputs per
channel after a flatten). A depthwise conv after the layer loses the same channels (its rows
must be dead too) and the inputs removed are those of the layer after it. The batch norm of a
tinydeploy conv/dense + BN block (`tinydeploy.models.blocks.FoldableBN`) shrinks with its
layer; since a dead channel is a non-zero constant after a batch norm, such a channel is only
removed when the inputs of the next layer reading it are all zero too (channel pruning masks
them). The result has plain layers of the new sizes (of the same classes), so it exports like
any model. Its checkpoint lists the restore hook `tinydeploy.prune.structured`, which resizes
the freshly built model's layers and batch norms to the shapes stored in the weights before
they are loaded.

A batch norm outside such a block cannot be resized and is refused. Caveat (documented, not
detected): any other op mixing channels before the next prunable layer would make removal
inexact; TinyNet-like chains (ReLU, max-pool, flatten) are fine.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from tinydeploy.errors import TinydeployError
from tinydeploy.prune.graph import chain_links, consumer_view, is_depthwise
from tinydeploy.prune.masks import prunable_layers, remove_masks

RESTORE_HOOK = "tinydeploy.prune.structured"


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def _resized(layer: nn.Module, n_out: int, n_in: int) -> nn.Module:
    """A layer of the same class and settings (e.g. 'same' padding) with new sizes; a
    depthwise conv stays depthwise with n_out channels. Weights are uninitialised."""
    new = copy.deepcopy(layer)
    if isinstance(layer, nn.Conv2d):
        if is_depthwise(layer):
            n_in = new.groups = n_out
        new.in_channels, new.out_channels = n_in, n_out
        shape = (n_out, n_in // new.groups, *layer.kernel_size)
    else:
        new.in_features, new.out_features = n_in, n_out
        shape = (n_out, n_in)
    new.weight = nn.Parameter(layer.weight.new_empty(shape))
    if layer.bias is not None:
        new.bias = nn.Parameter(layer.bias.new_empty(n_out))
    return new


def _resized_bn(bn: _BatchNorm, keep: Tensor | int) -> _BatchNorm:
    """The batch norm restricted to the kept channels (or resized to `keep` channels)."""
    n = keep if isinstance(keep, int) else len(keep)
    new = type(bn)(n, eps=bn.eps, momentum=bn.momentum, affine=bn.affine,
                   track_running_stats=bn.track_running_stats)
    if not isinstance(keep, int):
        with torch.no_grad():
            for name in ("weight", "bias", "running_mean", "running_var"):
                src = getattr(bn, name)
                if src is not None:
                    getattr(new, name).copy_(src.detach()[keep])
            if bn.num_batches_tracked is not None:
                new.num_batches_tracked.copy_(bn.num_batches_tracked)
    return new


def batchnorms_after(model: nn.Module) -> dict[str, str]:
    """Layer name -> name of the batch norm that follows it inside a FoldableBN block; raise if
    the model has other batch norms (their channels cannot be followed)."""
    from tinydeploy.models.blocks import FoldableBN

    owned = {}
    for name, module in model.named_modules():
        if isinstance(module, FoldableBN) and isinstance(module.bn, _BatchNorm):
            owned[f"{name}.layer"] = f"{name}.bn"
    stray = [n for n, m in model.named_modules()
             if isinstance(m, _BatchNorm) and n not in owned.values()]
    if stray:
        raise TinydeployError(
            f"cannot physically remove channels: batch norm {stray[0]} is not part of a "
            "tinydeploy conv/dense + BN block (tinydeploy.models.blocks), so its channels "
            "cannot be followed; export the masked model instead")
    return owned


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
    bn_after = batchnorms_after(small)
    next_link = {link.producer: link for link in links}
    keep_out: dict[str, Tensor] = {}
    for link in links:
        if link.producer in keep_out:
            continue  # a depthwise layer: decided with the layer it follows
        group, last = [link.producer], link
        while last.depthwise:  # producer -> depthwise -> ... -> the layer reading them
            group.append(last.consumer)
            if last.consumer not in next_link:
                break
            last = next_link[last.consumer]
        dead = dead_channels(layers[group[0]])
        for name in group[1:]:
            dead &= dead_channels(layers[name])
        if not last.depthwise and any(name in bn_after for name in group):
            reads = consumer_view(layers[last.consumer].weight.detach(), last)
            dead &= reads.eq(0).all(dim=2).all(dim=0)
        keep = (~dead).nonzero().reshape(-1)
        if keep.numel() == 0:
            keep = torch.zeros(1, dtype=torch.long)
        for name in group:
            keep_out[name] = keep
    keep_in = {link.consumer: (keep_out[link.producer][:, None] * link.group
                               + torch.arange(link.group)[None, :]).reshape(-1)
               for link in links if not link.depthwise}
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
        if name in bn_after:
            _set_module(small, bn_after[name],
                        _resized_bn(small.get_submodule(bn_after[name]), rows))
        summary[name] = {"before": int(w.shape[0]), "after": len(rows)}
    return small, summary


def restore_model(model: nn.Module, state: Mapping[str, Tensor], meta: Mapping[str, Any]) -> None:
    """Checkpoint restore hook: resize layers to the shapes of the stored weights."""
    for name, layer in prunable_layers(model).items():
        key = f"{name}.weight"
        if key in state and tuple(state[key].shape) != tuple(layer.weight.shape):
            n_out, n_in = state[key].shape[:2]
            _set_module(model, name, _resized(layer, int(n_out), int(n_in) * layer.groups
                                              if isinstance(layer, nn.Conv2d) else int(n_in)))
    for name, bn in list(model.named_modules()):
        key = f"{name}.running_mean"
        if isinstance(bn, _BatchNorm) and key in state and len(state[key]) != bn.num_features:
            _set_module(model, name, _resized_bn(bn, len(state[key])))
