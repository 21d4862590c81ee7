"""Dataset registry: a name maps to a loader, so adding a dataset never touches the core.

Built in: `mnist`, `fashion-mnist`. Users can also pass `npz:PATH` (arrays x_train, y_train,
x_test, y_test), `folder:PATH` (an ImageFolder-like tree train/<class>/*.png, test/<class>/...),
register a loader with `@register_dataset("name")`, or expose one through the
`tinydeploy.datasets` entry-point group of their own package.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

from tinydeploy.data.base import ImageDataset
from tinydeploy.errors import DataError, unknown_choice

#: loader(data_dir) -> ImageDataset; data_dir is the --data-dir flag value (or None).
DatasetLoader = Callable[[str | Path | None], ImageDataset]

_REGISTRY: dict[str, DatasetLoader] = {}
#: loaders for "scheme:PATH" dataset names, called as loader(PATH).
_SCHEMES: dict[str, Callable[[Path], ImageDataset]] = {}


def register_dataset(name: str) -> Callable[[DatasetLoader], DatasetLoader]:
    def decorator(loader: DatasetLoader) -> DatasetLoader:
        _REGISTRY[name] = loader
        return loader

    return decorator


def register_scheme(scheme: str) -> Callable[[Callable[[Path], ImageDataset]], Callable]:
    def decorator(loader: Callable[[Path], ImageDataset]) -> Callable[[Path], ImageDataset]:
        _SCHEMES[scheme] = loader
        return loader

    return decorator


def available_datasets() -> list[str]:
    _load_builtins()
    names = set(_REGISTRY)
    names.update(ep.name for ep in entry_points(group="tinydeploy.datasets"))
    return sorted(names) + [f"{s}:PATH" for s in sorted(_SCHEMES)]


def load_dataset(name: str, data_dir: str | Path | None = None) -> ImageDataset:
    """Load a dataset by registry name, `scheme:PATH`, or entry point."""
    _load_builtins()
    scheme, sep, rest = name.partition(":")
    if sep and scheme in _SCHEMES:
        path = Path(rest)
        if not path.exists():
            raise DataError(f"dataset path {path} does not exist")
        return _SCHEMES[scheme](path)
    if name in _REGISTRY:
        return _REGISTRY[name](data_dir)
    for ep in entry_points(group="tinydeploy.datasets"):
        if ep.name == name:
            return ep.load()(data_dir)
    raise unknown_choice("dataset", name, available_datasets())


def _load_builtins() -> None:
    # Imported for their registration side effect; kept lazy so importing the registry is cheap.
    from tinydeploy.data import custom, mnist  # noqa: F401
