"""Masks as buffers beside the weights.

A pruned layer carries a `torch.nn.utils.parametrize` parametrization on `weight` (and, for
channel pruning, on `bias`) whose module holds a `mask` buffer; `layer.weight` is always
`original * mask`. When a mask is applied the masked entries of `original` are set to zero as
well: their gradient is then exactly zero, and Adam, AdamW and SGD (with momentum and weight
decay) leave a zero parameter with a zero gradient at zero, so pruned weights stay exactly
zero through fine-tuning. `MaskGuard` checks this after every optimizer step.

State-dict keys of a masked layer: `<layer>.parametrizations.weight.original` and
`<layer>.parametrizations.weight.0.mask`. `restore_model` re-creates the parametrizations from
those keys before a checkpoint's weights are loaded (checkpoint restore hook
`tinydeploy.prune.masks`). `make_permanent` returns a plain model for export.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

RESTORE_HOOK = "tinydeploy.prune.masks"
PRUNABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear)
_MASK_SUFFIX = ".0.mask"


class Mask(nn.Module):
    """Parametrization multiplying a tensor by a fixed 0/1 mask buffer."""

    def __init__(self, mask: Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask.detach().clone().to(torch.float32))

    def forward(self, tensor: Tensor) -> Tensor:
        return tensor * self.mask.to(tensor.dtype)


class MaskViolation(RuntimeError):
    """A pruned weight became non-zero: a bug in the training loop or the optimizer."""


def prunable_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Conv2d and Linear layers in registration order (the order of the forward chain for
    sequential models such as TinyNet)."""
    return {n: m for n, m in model.named_modules() if isinstance(m, PRUNABLE_TYPES)}


def weight_param(layer: nn.Module, name: str = "weight") -> nn.Parameter:
    """The trainable tensor behind `layer.<name>` (the parametrization's `original` if masked)."""
    if parametrize.is_parametrized(layer, name):
        return getattr(layer.parametrizations, name).original
    return getattr(layer, name)


def get_mask(layer: nn.Module, name: str = "weight") -> Tensor | None:
    if not parametrize.is_parametrized(layer, name):
        return None
    for p in getattr(layer.parametrizations, name):
        if isinstance(p, Mask):
            return p.mask
    return None


def current_mask(layer: nn.Module, name: str = "weight") -> Tensor:
    """The layer's mask, or all ones when it is not pruned."""
    mask = get_mask(layer, name)
    return mask if mask is not None else torch.ones_like(weight_param(layer, name))


def get_masks(model: nn.Module) -> dict[str, Tensor]:
    """Weight masks of the masked layers, by layer name."""
    out = {}
    for name, layer in prunable_layers(model).items():
        mask = get_mask(layer)
        if mask is not None:
            out[name] = mask.detach().clone()
    return out


def is_pruned(model: nn.Module) -> bool:
    return any(get_mask(layer) is not None for layer in prunable_layers(model).values())


def set_mask(layer: nn.Module, mask: Tensor, name: str = "weight") -> None:
    """Attach (or replace) the mask of `layer.<name>`; zero the masked entries of the
    underlying parameter so they stay zero under training."""
    param = weight_param(layer, name)
    if mask.shape != param.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} != {name} shape {tuple(param.shape)}")
    mask = (mask != 0).to(torch.float32)
    existing = get_mask(layer, name)
    if existing is not None:
        existing.copy_(mask)
    else:
        parametrize.register_parametrization(layer, name, Mask(mask), unsafe=True)
    with torch.no_grad():
        weight_param(layer, name).mul_(mask.to(param.dtype))


def apply_masks(
    model: nn.Module, masks: Mapping[str, Tensor], bias_masks: Mapping[str, Tensor] | None = None
) -> None:
    """Set the weight masks (and optional bias masks) of the named layers."""
    layers = prunable_layers(model)
    for name, mask in masks.items():
        set_mask(layers[name], mask)
    for name, mask in (bias_masks or {}).items():
        if layers[name].bias is not None:
            set_mask(layers[name], mask, "bias")


def _plain_layer(layer: nn.Module) -> nn.Module:
    """A plain module of the layer's original class holding the effective tensors.

    Built by hand rather than with `parametrize.remove_parametrizations`: that deletes the
    property from the parametrized class, which a deep copy shares with its original."""
    base = type(layer).__bases__[0]
    tensors = {name: getattr(layer, name).detach().clone() for name in layer.parametrizations}
    fresh = base.__new__(base)
    fresh.__dict__.update(layer.__dict__)
    fresh._modules = {k: v for k, v in layer._modules.items() if k != "parametrizations"}
    fresh._parameters = dict(layer._parameters)
    for name in ("weight", "bias"):  # keep the usual parameter order
        if name in tensors:
            fresh._parameters[name] = nn.Parameter(tensors[name])
        elif name in fresh._parameters:
            fresh._parameters[name] = fresh._parameters.pop(name)
    return fresh


def remove_masks(model: nn.Module) -> nn.Module:
    """In place: replace every masked layer by a plain one holding weight * mask."""
    for name, layer in prunable_layers(model).items():
        if parametrize.is_parametrized(layer):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, _plain_layer(layer))
    return model


def make_permanent(model: nn.Module) -> nn.Module:
    """A plain copy of the model for export: weights multiplied by their masks, no
    parametrizations, no mask buffers. The input model is left untouched."""
    return remove_masks(copy.deepcopy(model))


def check_masks(model: nn.Module) -> None:
    """Raise MaskViolation if any masked entry of a parameter is not exactly zero."""
    for lname, layer in prunable_layers(model).items():
        for name in ("weight", "bias"):
            mask = get_mask(layer, name)
            if mask is None:
                continue
            leaked = (weight_param(layer, name).detach() * (1 - mask)).ne(0).sum().item()
            if leaked:
                raise MaskViolation(f"{lname}.{name}: {leaked} pruned entries became non-zero")


class MaskGuard:
    """`step_callback` for `train`: verify after every optimizer step that pruned weights are
    still exactly zero; counts the checks it made."""

    def __init__(self) -> None:
        self.checks = 0

    def __call__(self, model: nn.Module) -> None:
        check_masks(model)
        self.checks += 1


def restore_model(model: nn.Module, state: Mapping[str, Tensor], meta: Mapping[str, Any]) -> None:
    """Checkpoint restore hook: re-create the mask parametrizations found in `state`."""
    layers = prunable_layers(model)
    for key, value in state.items():
        if not key.endswith(_MASK_SUFFIX) or ".parametrizations." not in key:
            continue
        layer_name, _, rest = key.partition(".parametrizations.")
        tensor_name = rest[: -len(_MASK_SUFFIX)]
        layer = layers.get(layer_name)
        if layer is None or get_mask(layer, tensor_name) is not None:
            continue
        if weight_param(layer, tensor_name).shape != value.shape:
            continue  # a physically smaller layer; its own restore hook reshapes it first
        set_mask(layer, value, tensor_name)
