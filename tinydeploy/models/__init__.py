"""Models: TinyNet and user models loaded by import path."""

from tinydeploy.models.registry import ModelSpec, build_model, count_parameters, resolve_factory
from tinydeploy.models.tinynet import TinyNet

__all__ = ["ModelSpec", "TinyNet", "build_model", "count_parameters", "resolve_factory"]
