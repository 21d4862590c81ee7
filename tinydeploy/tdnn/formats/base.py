"""The interface of a weight storage format: everything about one format in one class.

A format turns the int8 weight matrix of a layer (rows = output channels, K = flattened
kernel, see ``resources/firmware/lib/tdnn/include/tdnn_types.h``) into named numpy arrays,
and describes the tdnn descriptor struct that hands them to its kernels. The C generator,
the host library, the format choice and the kernel benchmark all ask the format; none of
them knows a format by name.
"""

from __future__ import annotations

import ctypes as C
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import ClassVar

import numpy as np

from tinydeploy.errors import TinydeployError

#: numpy dtype -> C type name used for the emitted arrays.
C_TYPES: dict[str, str] = {
    "int8": "int8_t",
    "uint8": "uint8_t",
    "int16": "int16_t",
    "uint16": "uint16_t",
    "int32": "int32_t",
    "uint32": "uint32_t",
}

class WeightFormatError(TinydeployError):
    """A weight matrix cannot be stored in the requested format."""


@dataclass(frozen=True)
class EncodedWeights:
    """One layer's weights in one format.

    ``arrays`` maps the descriptor field name (e.g. ``values``, ``col_idx_u8``, ``meta``) to
    its numpy array; a field absent from ``arrays`` is NULL in the descriptor. ``scalars``
    holds the integer descriptor fields (``rows``, ``cols``, ``nnz`` / ``n``, ``m``, ...).
    """

    format: str
    shape: tuple[int, int]
    arrays: dict[str, np.ndarray]
    scalars: dict[str, int] = field(default_factory=dict)

    def c_type(self, name: str) -> str:
        """C element type of array ``name`` (``int8_t``, ``uint16_t``, ...)."""
        return C_TYPES[self.arrays[name].dtype.name]

    @property
    def nbytes(self) -> int:
        """Bytes of all arrays (flash cost, excluding the descriptor struct itself)."""
        return int(sum(a.nbytes for a in self.arrays.values()))


@dataclass(frozen=True)
class Descriptor:
    """A tdnn weight descriptor struct, written down once for C and for ctypes.

    ``lines`` lists the struct's fields in declaration order, grouped as the generated
    initialiser breaks its lines; ``ints`` are the int32 fields (filled from the encoding's
    scalars), every other field is a pointer to the encoding's array of that name (NULL when
    the encoding has none). tests/kernels/test_struct_layout.py checks the ctypes mirror
    against the C compiler's sizeof/offsetof.
    """

    c_type: str  # e.g. "td_csr_weights"
    suffix: str  # the generated variable is <layer>_<suffix>
    lines: tuple[tuple[str, ...], ...]
    ints: frozenset[str]

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(f for line in self.lines for f in line)

    @cached_property
    def ctypes_struct(self) -> type[C.Structure]:
        """The ctypes mirror of the C struct."""
        return type(self.c_type, (C.Structure,), {"_fields_": [
            (f, C.c_int32 if f in self.ints else C.c_void_p) for f in self.fields]})

    def c_initialiser(self, prefix: str, enc: EncodedWeights) -> str:
        """``static const <c_type> <prefix>_<suffix> = {...};`` for arrays named
        ``<prefix>_<field>``."""
        def value(f: str) -> str:
            if f in self.ints:
                return str(int(enc.scalars[f]))
            return f"{prefix}_{f}" if f in enc.arrays else "NULL"

        body = ",\n    ".join(", ".join(f".{f} = {value(f)}" for f in line)
                               for line in self.lines)
        return f"static const {self.c_type} {prefix}_{self.suffix} = {{\n    {body}}};\n"

    def ctypes_value(self, enc: EncodedWeights, arrays: dict[str, np.ndarray]) -> C.Structure:
        """The struct for the host library; ``arrays`` are contiguous copies kept alive by
        the caller."""
        return self.ctypes_struct(*[
            int(enc.scalars[f]) if f in self.ints
            else (C.c_void_p(arrays[f].ctypes.data) if f in arrays else None)
            for f in self.fields])


def check_weights(w2d: np.ndarray) -> np.ndarray:
    """Validate a 2-D int8 weight matrix and return it C-contiguous."""
    w = np.asarray(w2d)
    if w.ndim != 2 or w.dtype != np.int8:
        raise WeightFormatError(
            f"weights must be a 2-D int8 array (rows x K), got {w.dtype} of shape {w.shape}"
        )
    if w.shape[0] < 1 or w.shape[1] < 1:
        raise WeightFormatError(f"weights must have at least one row and column: {w.shape}")
    return np.ascontiguousarray(w)


class WeightFormat(ABC):
    """A storage format and the tdnn kernels that run it.

    Subclasses set the class attributes and implement ``encode`` / ``decode`` (exact
    inverses on valid input). A family of formats under one class (N:M: ``nm<N>_<M>``)
    overrides ``parse``, ``names`` and ``candidates``. Every module of this package, and of
    the folders in $TINYDEPLOY_FORMATS_DIR, is searched for subclasses (see ``registry``).
    """

    #: registry key
    name: str = ""
    #: the kernel family that runs it: ``td_conv_<kernel>_s8`` / ``td_fc_<kernel>_s8``
    kernel: str = ""
    #: layer kinds the kernels of this format implement
    layers: ClassVar[tuple[str, ...]] = ("conv", "fc")
    #: the descriptor struct the kernels take; None: they take the ``values`` array itself
    descriptor: ClassVar[Descriptor | None] = None
    #: a sparse conv of this format reads ``td_conv_taps`` (offsets and values) built by
    #: the generator, and only ``conv_reads`` of its own arrays
    conv_taps: ClassVar[bool] = False
    conv_reads: ClassVar[tuple[str, ...] | None] = None  # None: all arrays
    #: where ``auto`` lists it among the candidates (lower first; ties keep the first)
    order: ClassVar[int] = 100
    #: C files shipped beside the format's module (formats outside the kernel library):
    #: copied next to the generated model and built with tdnn on the host; headers are
    #: included by model.c
    c_files: ClassVar[tuple[str, ...]] = ()
    #: the folder ``c_files`` are in (set by the registry)
    source_dir: ClassVar[Path | None] = None

    @abstractmethod
    def encode(self, w2d: np.ndarray, layer: str = "layer") -> EncodedWeights:
        """Encode an int8 [rows, K] matrix; ``layer`` only names it in error messages."""

    @abstractmethod
    def decode(self, encoded: EncodedWeights) -> np.ndarray:
        """Rebuild the int8 [rows, K] matrix."""

    # ---- registry hooks (one format per class unless overridden) ----
    @classmethod
    def parse(cls, name: str) -> WeightFormat | None:
        """The format called ``name`` if this class provides it."""
        return cls() if name == cls.name else None

    @classmethod
    def names(cls) -> list[str]:
        return [cls.name]

    @classmethod
    def candidates(cls, w2d: np.ndarray, layer_kind: str) -> list[WeightFormat]:
        """Formats of this class that ``auto`` should weigh for this layer."""
        return [cls()] if layer_kind in cls.layers else []

    # ---- what the kernels do with it ----
    def executed_entries(self, encoded: EncodedWeights) -> int:
        """Weight entries the kernel multiplies per output position (all for dense, the
        stored entries of a sparse format)."""
        return int(encoded.arrays["values"].size)

    def entry_columns(self, encoded: EncodedWeights) -> tuple[np.ndarray, np.ndarray]:
        """(column, value) of every stored entry in storage order, column -1 for a padding
        slot: what the generator turns into conv taps (formats with ``conv_taps``)."""
        raise WeightFormatError(f"format {self.name} has no conv taps")

    def weight_arg(self, prefix: str) -> str:
        """The C expression passed to the kernel for weights named ``<prefix>_*``."""
        if self.descriptor is None:
            return f"{prefix}_values"
        return f"&{prefix}_{self.descriptor.suffix}"

    def for_conv(self, encoded: EncodedWeights) -> EncodedWeights:
        """The arrays a conv of this format stores in flash (``conv_reads``)."""
        if self.conv_reads is None:
            return encoded
        kept = {k: v for k, v in encoded.arrays.items() if k in self.conv_reads}
        return EncodedWeights(encoded.format, encoded.shape, kept, encoded.scalars)

    def nbytes(self, encoded: EncodedWeights) -> int:
        """Storage bytes of ``encoded``."""
        return encoded.nbytes

    @classmethod
    def c_sources(cls) -> list[Path]:
        """Absolute paths of ``c_files``; a missing one is an error."""
        if not cls.c_files:
            return []
        if cls.source_dir is None:
            raise WeightFormatError(f"format {cls.name} lists C files but has no source dir")
        paths = [cls.source_dir / f for f in cls.c_files]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise WeightFormatError(f"format {cls.name}: C file(s) not found: "
                                    f"{', '.join(missing)}")
        return paths
