"""Weight storage formats of the tdnn kernels, one module each, found by name.

Built in: ``dense``, ``csr``, ``csrd`` (delta-coded CSR columns) and ``nm<N>_<M>`` (e.g.
``nm2_4``, ``nm1_16``). Adding a format is one module with a ``WeightFormat`` subclass, here
or in a folder named in $TINYDEPLOY_FORMATS_DIR (os.pathsep-separated), plus its C kernel
files (``td_conv_<kernel>_s8`` / ``td_fc_<kernel>_s8``): in the kernel library for a built-in
format, listed in ``c_files`` beside the module for a user's one.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import pkgutil
import sys
from functools import cache
from pathlib import Path

import numpy as np

from tinydeploy.errors import unknown_choice
from tinydeploy.tdnn.formats.base import (
    C_TYPES,
    Descriptor,
    EncodedWeights,
    WeightFormat,
    WeightFormatError,
)

FORMATS_ENV = "TINYDEPLOY_FORMATS_DIR"


def user_format_dirs() -> list[Path]:
    """The folders named in $TINYDEPLOY_FORMATS_DIR; a missing one is an error."""
    dirs = [Path(d) for d in os.environ.get(FORMATS_ENV, "").split(os.pathsep) if d]
    for d in dirs:
        if not d.is_dir():
            raise WeightFormatError(f"weight format folder {d} (from {FORMATS_ENV}) does not "
                                    "exist")
    return dirs


def _subclasses(module) -> list[type[WeightFormat]]:
    return [obj for obj in vars(module).values()
            if isinstance(obj, type) and issubclass(obj, WeightFormat)
            and obj.__module__ == module.__name__ and not inspect.isabstract(obj)
            and any(obj.names())]


def _load_user_module(path: Path):
    name = f"tinydeploy_user_formats.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise WeightFormatError(f"cannot load weight format module {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise WeightFormatError(f"weight format module {path} failed to load: {exc}") from exc
    return module


@cache
def _classes(user_dirs: tuple[Path, ...]) -> tuple[type[WeightFormat], ...]:
    found: list[type[WeightFormat]] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base":
            found += _subclasses(importlib.import_module(f"{__name__}.{info.name}"))
    for d in user_dirs:
        for path in sorted(d.glob("*.py")):
            for cls in _subclasses(_load_user_module(path)):
                cls.source_dir = path.parent
                found.append(cls)
    names = [n for cls in found for n in cls.names()]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise WeightFormatError(f"weight format name(s) defined twice: {', '.join(dupes)}")
    return tuple(sorted(found, key=lambda c: c.order))


def format_classes() -> tuple[type[WeightFormat], ...]:
    """Every format class, built-in and the user's, in candidate order."""
    return _classes(tuple(p.resolve() for p in user_format_dirs()))


def format_names() -> list[str]:
    """Every valid format name."""
    return [n for cls in format_classes() for n in cls.names()]


def get_format(name: str) -> WeightFormat:
    """The format called ``name``; unknown names raise an error listing the valid ones."""
    for cls in format_classes():
        fmt = cls.parse(name)
        if fmt is not None:
            return fmt
    listed = [n for cls in format_classes() for n in cls.names() if not n.startswith("nm")]
    raise unknown_choice("weight format", name, [*listed, "nm<N>_<M> (1<=N<M, M in 2,4,8,16)"])


def user_format_sources() -> list[Path]:
    """The C files of every format outside the kernel library."""
    return [p for cls in format_classes() for p in cls.c_sources()]


def candidate_formats(w2d: np.ndarray, layer_kind: str) -> list[WeightFormat]:
    """Every format ``auto`` weighs for a layer, dense first."""
    return [fmt for cls in format_classes() for fmt in cls.candidates(w2d, layer_kind)]


__all__ = [
    "C_TYPES",
    "Descriptor",
    "EncodedWeights",
    "WeightFormat",
    "WeightFormatError",
    "candidate_formats",
    "format_names",
    "get_format",
    "user_format_dirs",
    "user_format_sources",
]
