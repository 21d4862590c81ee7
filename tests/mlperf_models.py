"""Shared by the MLPerf Tiny model tests: input shapes, seeded models with non-trivial batch
norms, and the Keras reference module (benchmarks/models/keras_mlperf.py), loaded once."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from tinydeploy.models.registry import BUILTIN_MODELS

KERAS_MLPERF = Path(__file__).resolve().parents[1] / "benchmarks" / "models" / "keras_mlperf.py"

# model name -> (PyTorch input shape without the batch, output features)
SHAPES: dict[str, tuple[tuple[int, ...], int]] = {
    "resnet8": ((3, 32, 32), 10),
    "dscnn": ((1, 49, 10), 12),
    "mobilenet_v1_025": ((3, 96, 96), 2),
    "fc_autoencoder": ((640,), 640),
}


def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial scales, shifts and statistics (fresh batch norms are the identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
    return model


def seeded_model(name: str, seed: int = 0, **kwargs) -> nn.Module:
    torch.manual_seed(seed)
    return randomize_batchnorm(BUILTIN_MODELS[name](**kwargs), seed).eval()


def keras_mlperf():
    """benchmarks/models/keras_mlperf.py as a module."""
    if "keras_mlperf" not in sys.modules:
        spec = importlib.util.spec_from_file_location("keras_mlperf", KERAS_MLPERF)
        module = importlib.util.module_from_spec(spec)
        sys.modules["keras_mlperf"] = module
        spec.loader.exec_module(module)
    return sys.modules["keras_mlperf"]
