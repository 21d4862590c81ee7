"""The common interface of pruning criteria.

A criterion turns a model and (optionally) a data batch into importance scores: higher means
keep. Weight criteria return one score per weight (the layer's weight shape); channel
criteria (`structured = True`) return one score per output channel. Scores are computed on
the effective (masked) weights; the engine never re-grows an already pruned weight, whatever
its score.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from tinydeploy.prune.masks import weight_param


@dataclass(frozen=True)
class Batch:
    """Data a criterion may look at: float inputs (N, C, H, W) and integer labels."""

    x: Tensor
    y: Tensor | None = None


class Criterion:
    """Base class: subclasses set `name` and implement `scores`."""

    name: ClassVar[str] = ""
    needs_data: ClassVar[bool] = False  # needs real inputs (else only the input shape is used)
    needs_labels: ClassVar[bool] = False
    structured: ClassVar[bool] = False  # scores per output channel instead of per weight
    default_rounds: ClassVar[int] = 1  # scoring/pruning rounds (SynFlow: 100)

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def scores(
        self, model: nn.Module, layers: dict[str, nn.Module], batch: Batch | None
    ) -> dict[str, Tensor]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Score in eval mode (no dropout, frozen batch-norm statistics); restore the mode after."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def capture(model: nn.Module, x: Tensor, layers: Mapping[str, nn.Module], *,
            inputs: bool) -> dict[str, Tensor]:
    """One eval-mode, no-grad forward pass of `x`; each layer's input (inputs=True) or
    output, detached. Data-driven criteria read activations through this."""
    seen: dict[str, Tensor] = {}

    def hook(name: str):
        if inputs:
            return lambda module, args: seen.__setitem__(name, args[0].detach())
        return lambda module, args, output: seen.__setitem__(name, output.detach())

    handles = [layer.register_forward_pre_hook(hook(n)) if inputs
               else layer.register_forward_hook(hook(n)) for n, layer in layers.items()]
    try:
        with eval_mode(model), torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return seen


def loss_on(model: nn.Module, batch: Batch, temperature: float = 1.0) -> Tensor:
    """Mean cross-entropy of the logits divided by `temperature` (1: the raw logits)."""
    if batch.y is None:
        raise ValueError("this criterion needs labelled data")
    return nn.functional.cross_entropy(model(batch.x) / temperature, batch.y)


def weight_grads(
    model: nn.Module, layers: dict[str, nn.Module], batch: Batch, *, create_graph: bool = False,
    temperature: float = 1.0,
) -> dict[str, Tensor]:
    """d loss / d weight for each layer (zero at masked entries), without touching `.grad`."""
    params = [weight_param(layer) for layer in layers.values()]
    loss = loss_on(model, batch, temperature)
    grads = torch.autograd.grad(loss, params, create_graph=create_graph)
    return dict(zip(layers, grads, strict=True))


def effective_weight(layer: nn.Module) -> Tensor:
    return layer.weight.detach()


def chunks(batch: Batch, size: int) -> Iterator[Batch]:
    for start in range(0, len(batch.x), size):
        y = None if batch.y is None else batch.y[start : start + size]
        yield Batch(batch.x[start : start + size], y)
