"""Small models and batches shared by the pruning tests."""

from __future__ import annotations

import torch
from torch import nn

from tinydeploy.models import TinyNet
from tinydeploy.prune.criteria import Batch


def tiny_net(seed: int = 0) -> nn.Module:
    """TinyNet on 1x8x8 inputs: conv1 1->8, conv2 8->16, fc1 64->64, fc2 64->10."""
    torch.manual_seed(seed)
    return TinyNet(in_channels=1, num_classes=10, image_size=8)


def tiny_batch(n: int = 16, seed: int = 0) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    return Batch(torch.rand(n, 1, 8, 8, generator=gen), torch.randint(0, 10, (n,), generator=gen))


class TwoLinear(nn.Module):
    def __init__(self, w1: torch.Tensor, w2: torch.Tensor) -> None:
        super().__init__()
        self.fc1 = nn.Linear(w1.shape[1], w1.shape[0], bias=False)
        self.fc2 = nn.Linear(w2.shape[1], w2.shape[0], bias=False)
        with torch.no_grad():
            self.fc1.weight.copy_(w1)
            self.fc2.weight.copy_(w2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.fc1(x))
