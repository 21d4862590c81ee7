"""Criteria registry: every module in this package registers its criteria by name, so a new
criterion is one new file."""

from __future__ import annotations

import importlib
import pkgutil

from tinydeploy.errors import unknown_choice
from tinydeploy.prune.criteria.base import Batch, Criterion

_REGISTRY: dict[str, type[Criterion]] = {}
_loaded = False


def register(cls: type[Criterion]) -> type[Criterion]:
    """Class decorator: make a criterion available under `cls.name`."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _REGISTRY[cls.name] = cls
    return cls


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")
    _loaded = True


def available_criteria(structured: bool | None = None) -> list[str]:
    """Registered names; `structured=True` only channel criteria, False only weight criteria."""
    _load_all()
    return sorted(n for n, c in _REGISTRY.items()
                  if structured is None or c.structured == structured)


def get_criterion(name: str, **kwargs) -> Criterion:
    """Instantiate a criterion by name (unknown names list the valid ones)."""
    _load_all()
    if name not in _REGISTRY:
        raise unknown_choice("pruning method", name, list(_REGISTRY))
    return _REGISTRY[name](**kwargs)

__all__ = ["Batch", "Criterion", "available_criteria", "get_criterion", "register"]
