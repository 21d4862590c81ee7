"""The op table: every module of this package defines one TFLite op (or one family, such as
the two pools) and registers it, so adding an op to the IR is one new file (see `base`).

`tinydeploy.ir.tflite_reader` reads the ops `supported_ops()` names, and
`tinydeploy.ir.reference` runs them, both through `get_op(kind)`.
"""

from __future__ import annotations

import importlib
import pkgutil

from tinydeploy.errors import unknown_choice
from tinydeploy.ir.ops.base import OpDef, ReadContext

_REGISTRY: dict[str, OpDef] = {}
_NOT_OPS = {"base", "common", "bytemap"}  # modules of shared code, not op definitions
_loaded = False

# The order in which error messages have always listed the first ops; ops added later
# follow in the order they register and need no entry here.
_LISTED_FIRST = ("CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D",
                 "FULLY_CONNECTED", "ADD", "RESHAPE", "TRANSPOSE", "SOFTMAX")


def register(cls: type[OpDef]) -> type[OpDef]:
    """Class decorator: make the op definition `cls` the one for TFLite op `cls.kind`."""
    if not cls.kind or not cls.short:
        raise ValueError(f"{cls.__name__} needs a kind and a short name")
    if cls.kind in _REGISTRY:
        raise ValueError(f"TFLite op {cls.kind} is defined twice "
                         f"({type(_REGISTRY[cls.kind]).__name__} and {cls.__name__})")
    # Op names are short name + running number; two kinds with one stem would clash.
    clash = [d.kind for d in _REGISTRY.values() if d.short == cls.short]
    if clash:
        raise ValueError(f"{cls.__name__}: short name {cls.short!r} is taken by {clash[0]}")
    _REGISTRY[cls.kind] = cls()
    return cls


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    for info in pkgutil.iter_modules(__path__):
        if info.name not in _NOT_OPS:
            importlib.import_module(f"{__name__}.{info.name}")
    _loaded = True


def supported_ops() -> tuple[str, ...]:
    """The TFLite op names the IR reads and runs."""
    _load_all()
    first = [k for k in _LISTED_FIRST if k in _REGISTRY]
    return (*first, *(k for k in _REGISTRY if k not in _LISTED_FIRST))


def find_op(kind: str) -> OpDef | None:
    """The definition of TFLite op `kind`, or None if the IR has none."""
    _load_all()
    return _REGISTRY.get(kind)


def get_op(kind: str) -> OpDef:
    """The definition of TFLite op `kind`; unknown names raise an error listing the known."""
    op = find_op(kind)
    if op is None:
        raise unknown_choice("TFLite op", kind, list(_REGISTRY))
    return op


__all__ = ["OpDef", "ReadContext", "find_op", "get_op", "register", "supported_ops"]
