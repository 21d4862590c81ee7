"""Building models by name: built-in names or a user's `package.module:ClassName`.

A model spec is a plain dict (stored in every checkpoint's metadata) so any later stage can
rebuild the same architecture: {"name": ..., "kwargs": {...}, "input_shape": [C, H, W]}.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn

from tinydeploy.errors import ModelError, unknown_choice
from tinydeploy.models.dscnn import DSCNN
from tinydeploy.models.fc_autoencoder import FCAutoencoder
from tinydeploy.models.lenet import LeNet5
from tinydeploy.models.mobilenet_v1 import MobileNetV1
from tinydeploy.models.resnet8 import ResNet8
from tinydeploy.models.tinynet import TinyNet

# The MLPerf Tiny reference architectures take their task's defaults (e.g. resnet8: 3
# channels, 10 classes); built for a dataset they get its channels and classes.
BUILTIN_MODELS: dict[str, Callable[..., nn.Module]] = {
    "tinynet": TinyNet, "tinynet_x2": functools.partial(TinyNet, width=2),
    "lenet5": LeNet5, "resnet8": ResNet8, "dscnn": DSCNN,
    "mobilenet_v1_025": MobileNetV1, "fc_autoencoder": FCAutoencoder,
}


@dataclass(frozen=True)
class ModelSpec:
    name: str = "tinynet"
    input_shape: tuple[int, int, int] = (1, 28, 28)
    num_classes: int = 10
    kwargs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        return cls(
            name=d["name"],
            input_shape=tuple(d["input_shape"]),  # type: ignore[arg-type]
            num_classes=int(d["num_classes"]),
            kwargs=dict(d.get("kwargs", {})),
        )


def resolve_factory(name: str) -> Callable[..., nn.Module]:
    """The class/function for a built-in name or an importable `module:attr` path."""
    if name in BUILTIN_MODELS:
        return BUILTIN_MODELS[name]
    if ":" not in name:
        raise unknown_choice("model", name, [*BUILTIN_MODELS, "package.module:ClassName"])
    module_name, _, attr = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time failure of user code is the user's to fix
        raise ModelError(f"cannot import model module {module_name!r}: {exc}") from exc
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise ModelError(f"module {module_name!r} has no callable {attr!r}")
    return factory


def build_model(spec: ModelSpec) -> nn.Module:
    """Instantiate the model, passing in_channels/num_classes/image_size when it accepts them."""
    factory = resolve_factory(spec.name)
    kwargs = dict(spec.kwargs)
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    c, h, _ = spec.input_shape
    for key, value in (("in_channels", c), ("num_classes", spec.num_classes), ("image_size", h)):
        if key in params and key not in kwargs:
            kwargs[key] = value
    try:
        model = factory(**kwargs)
    except Exception as exc:
        raise ModelError(f"building model {spec.name!r} failed: {exc}") from exc
    if not isinstance(model, nn.Module):
        raise ModelError(f"{spec.name!r} returned {type(model).__name__}, not a torch nn.Module")
    return model


def require_classifier(model: nn.Module, name: str, what: str = "tinydeploy train") -> None:
    """Refuse models that declare another task (`task = "reconstruction"`, e.g.
    fc_autoencoder): the training loop fits labels with cross-entropy."""
    task = getattr(model, "task", "classification")
    if task != "classification":
        raise ModelError(
            f"model {name!r} is a {task} model, not a classifier: {what} trains classifiers "
            "(cross-entropy on dataset labels). Train it in your own loop, save it with "
            "tinydeploy.checkpoint.save_checkpoint and export it from Python "
            "(tinydeploy.export.onnx_export.export_onnx, then "
            "tinydeploy.export.tflite_export.onnx_to_int8_tflite with calib_samples)")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
