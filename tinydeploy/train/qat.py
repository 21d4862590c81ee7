"""Quantization-aware fine-tuning that simulates exactly what the int8 export produces.

The TFLite converter quantizes weights per output channel, symmetric, to [-127, 127] with
scale max|w| / 127, and activations per tensor, asymmetric int8, from the min/max seen on
calibration images (a ReLU fused into its conv/FC narrows that to [0, max]). QAT inserts the
same rounding in the forward pass, with straight-through gradients:

- weights: a parametrization appended after the pruning mask, so masked weights are zero
  before rounding and stay exactly zero (round(0) = 0);
- activations: forward hooks on the modules whose outputs become int8 tensors in the TFLite
  graph: every ReLU/ReLU6, and every conv/linear not directly followed by one (its output is
  quantized on its own, e.g. the logits). The ranges are the converter's: the min/max of each
  tensor of the float graph (weights rounded, activations not) over the export's calibration
  images, recomputed by `recalibrate` as the weights move. (An exponential moving average of
  batch ranges, as TensorFlow's QAT keeps, trains against narrower ranges than the export
  then calibrates.) Operations written as functions rather than modules (a functional
  `x + y`) are not simulated.

`bake` ends QAT: the rounded weights are written into the parameters (the converter then
finds them already on its grid) and every hook and weight parametrization is removed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

WEIGHTED: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear)
ACTIVATIONS: tuple[type[nn.Module], ...] = (nn.ReLU, nn.ReLU6)
# modules that pass an int8 tensor through with its quantization unchanged
PASS_THROUGH: tuple[type[nn.Module], ...] = (nn.MaxPool2d, nn.Flatten, nn.Dropout, nn.Identity)


class FakeQuantWeight(nn.Module):
    """Parametrization: per-output-channel symmetric int8 rounding of a weight."""

    def forward(self, w: Tensor) -> Tensor:
        dims = tuple(range(1, w.dim()))
        scale = (w.detach().abs().amax(dim=dims) / 127.0).clamp_min(1e-12)
        zero = torch.zeros(w.shape[0], dtype=torch.int32)
        return torch.fake_quantize_per_channel_affine(w, scale.float(), zero, 0, -127, 127)


class FakeQuantActivation(nn.Module):
    """Per-tensor asymmetric int8 rounding to a fixed range (set by `recalibrate`)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("lo", torch.tensor(0.0))
        self.register_buffer("hi", torch.tensor(0.0))
        self.enabled = True  # off while the ranges are measured on the float graph

    def qparams(self) -> tuple[float, int]:
        lo, hi = float(self.lo), float(self.hi)
        scale = max(hi - lo, 1e-8) / 255.0
        zero = round(-128 - lo / scale)
        return scale, max(-128, min(127, zero))

    def forward(self, x: Tensor) -> Tensor:
        if not self.enabled:
            return x
        scale, zero = self.qparams()
        return torch.fake_quantize_per_tensor_affine(x, scale, zero, -128, 127)


def weighted_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The conv and linear layers (the ones with int8 weights in the export)."""
    return {n: m for n, m in model.named_modules() if isinstance(m, WEIGHTED)}


@dataclass
class QATState:
    """What `enable` attached to a model, so that `bake` can take it off again."""

    weight_layers: list[nn.Module] = field(default_factory=list)
    activations: dict[str, FakeQuantActivation] = field(default_factory=dict)
    handles: list[torch.utils.hooks.RemovableHandle] = field(default_factory=list)
    calibration: list[Tensor] = field(default_factory=list)


def _executed_modules(model: nn.Module, example: Tensor) -> list[tuple[str, nn.Module]]:
    """(name, module) of the conv/linear layers and other leaf modules, in the order they
    run on `example` (modules inside a layer's parametrizations, e.g. a pruning mask, are
    not counted)."""
    layers = weighted_layers(model)
    watched = {n: m for n, m in model.named_modules()
               if n in layers or (n and not list(m.children()) and ".parametrizations" not in n
                                  and not any(n.startswith(f"{p}.") for p in layers))}
    order: list[tuple[str, nn.Module]] = []
    hooks = [m.register_forward_hook(lambda mod, _i, _o, n=n: order.append((n, mod)))
             for n, m in watched.items()]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(example[:1])
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return order


def activation_points(model: nn.Module, example: Tensor) -> list[str]:
    """Names of the modules whose output is an int8 tensor of the exported graph."""
    order = _executed_modules(model, example)
    weighted = set(weighted_layers(model))
    points = []
    for i, (name, module) in enumerate(order):
        if isinstance(module, ACTIVATIONS):
            points.append(name)
        elif name in weighted:
            following = next((m for _, m in order[i + 1:] if not isinstance(m, PASS_THROUGH)),
                             None)
            if not isinstance(following, ACTIVATIONS):
                points.append(name)
    return points


def enable(model: nn.Module, calibration: Iterable[Tensor]) -> QATState:
    """Attach weight and activation fake-quantization; the activation ranges are measured on
    the `calibration` batches (the images the int8 export calibrates on)."""
    state = QATState(calibration=list(calibration))
    for layer in weighted_layers(model).values():
        parametrize.register_parametrization(layer, "weight", FakeQuantWeight(), unsafe=True)
        state.weight_layers.append(layer)
    for name in activation_points(model, state.calibration[0]):
        fq = FakeQuantActivation()
        state.activations[name] = fq
        module = model.get_submodule(name)
        state.handles.append(module.register_forward_hook(lambda _m, _i, out, q=fq: q(out)))
    recalibrate(model, state)
    return state


def recalibrate(model: nn.Module, state: QATState) -> None:
    """Set every activation range to what the converter would compute for the current
    weights: the min/max over the calibration batches of the float graph (rounded weights,
    unrounded activations), widened to include 0."""
    lows = {n: math.inf for n in state.activations}
    highs = {n: -math.inf for n in state.activations}
    probes = []
    for name in state.activations:
        def record(_m, _i, out, n=name):
            lows[n] = min(lows[n], float(out.detach().min()))
            highs[n] = max(highs[n], float(out.detach().max()))
        probes.append(model.get_submodule(name).register_forward_hook(record, prepend=True))
    was_training = model.training
    model.eval()
    for fq in state.activations.values():
        fq.enabled = False
    try:
        with torch.no_grad():
            for x in state.calibration:
                model(x)
    finally:
        model.train(was_training)
        for fq in state.activations.values():
            fq.enabled = True
        for p in probes:
            p.remove()
    for name, fq in state.activations.items():
        fq.lo.fill_(min(0.0, lows[name]))
        fq.hi.fill_(max(0.0, highs[name]))


def bake(model: nn.Module, state: QATState) -> None:
    """Write the rounded weights into the parameters and remove all QAT machinery."""
    for h in state.handles:
        h.remove()
    for layer in state.weight_layers:
        chain = layer.parametrizations.weight
        index = next(i for i, p in enumerate(chain) if isinstance(p, FakeQuantWeight))
        with torch.no_grad():
            rounded = layer.weight.detach().clone()  # mask, then rounding
        if len(chain) == 1:
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=False)
            with torch.no_grad():
                layer.weight.copy_(rounded)
        else:
            del chain[index]
            with torch.no_grad():
                chain.original.copy_(rounded)
    state.handles.clear()
    state.weight_layers.clear()
