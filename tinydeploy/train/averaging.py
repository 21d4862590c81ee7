"""Exponential moving average of the weights (Polyak averaging), for the last epochs of a run.

The averaged weights are smoother than the last step's, which usually generalise a little
better, most of all for a small network trained to the end of a schedule. Only parameters
are averaged; buffers (pruning masks among them) are the model's own, so with a fixed mask a
pruned weight is a running average of zeros: exactly zero.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from tinydeploy.errors import TinydeployError


def check_weight_average(decay: float) -> None:
    """A weight-average setting: a decay in (0, 1), or 0 for off."""
    if not 0.0 <= decay < 1.0:
        raise TinydeployError(f"weight-average decay must be in [0, 1), got {decay}")


class WeightAverage:
    """ema <- decay * ema + (1 - decay) * w after every step, started from the current weights."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"weight-average decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.params = {n: p for n, p in model.named_parameters() if p.requires_grad}
        self.average = {n: p.detach().clone() for n, p in self.params.items()}

    @torch.no_grad()
    def update(self) -> None:
        for name, p in self.params.items():
            self.average[name].mul_(self.decay).add_(p.detach(), alpha=1.0 - self.decay)

    @contextlib.contextmanager
    def swapped_in(self) -> Iterator[None]:
        """The averaged weights in the model for the duration of the block."""
        own = {n: p.detach().clone() for n, p in self.params.items()}
        self.load_into_model()
        try:
            yield
        finally:
            with torch.no_grad():
                for name, p in self.params.items():
                    p.copy_(own[name])

    @torch.no_grad()
    def load_into_model(self) -> None:
        for name, p in self.params.items():
            p.copy_(self.average[name])
