"""Trial specs: frozen, JSON-serialisable, named by the hash of their canonical JSON."""

from __future__ import annotations

import hashlib
import importlib
import itertools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from tinydeploy.errors import TinydeployError

ID_LENGTH = 12


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, no NaN: the same spec always gives the same text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _freeze(value: Any) -> Any:
    """Round-trip through JSON: rejects what JSON cannot hold, turns tuples into lists."""
    try:
        return json.loads(canonical_json(value))
    except (TypeError, ValueError) as exc:
        raise TinydeployError(f"trial parameters must be JSON-serialisable: {exc}") from exc


@dataclass(frozen=True)
class Trial:
    """One unit of work: `fn(params) -> dict` where fn is "package.module:function"."""

    fn: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        module, sep, attr = self.fn.partition(":")
        if not sep or not module or not attr:
            raise TinydeployError(f"trial function must be 'package.module:function', "
                                  f"got {self.fn!r}")
        object.__setattr__(self, "params", MappingProxyType(_freeze(dict(self.params))))

    def __hash__(self) -> int:
        return hash(self.id)

    def to_dict(self) -> dict[str, Any]:
        return {"fn": self.fn, "params": _freeze(dict(self.params))}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Trial:
        return cls(d["fn"], d.get("params", {}))

    @property
    def id(self) -> str:
        digest = hashlib.sha256(canonical_json(self.to_dict()).encode()).hexdigest()
        return digest[:ID_LENGTH]

    def resolve(self) -> Callable[[dict[str, Any]], Any]:
        module, _, attr = self.fn.partition(":")
        try:
            fn = getattr(importlib.import_module(module), attr, None)
        except ImportError as exc:
            raise TinydeployError(f"cannot import trial function {self.fn!r}: {exc}") from exc
        if not callable(fn):
            raise TinydeployError(f"trial function {self.fn!r} not found")
        return fn


def grid(fn: str, fixed: Mapping[str, Any] | None = None,
         **axes: Iterable[Any]) -> list[Trial]:
    """Cartesian product of the axes, each combined with the fixed parameters."""
    names = list(axes)
    return [Trial(fn, {**(fixed or {}), **dict(zip(names, values, strict=True))})
            for values in itertools.product(*(list(axes[n]) for n in names))]
