"""Common interface of the weight storage formats (dense, CSR, N:M).

A format turns the int8 weight matrix of a layer (rows = output channels, K = flattened
kernel, see ``resources/firmware/lib/tdnn/include/tdnn_types.h``) into named numpy arrays
that the C generator emits verbatim, plus the scalar fields of the matching tdnn descriptor struct.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

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
    """A storage format: ``encode`` / ``decode`` are exact inverses on valid input."""

    #: registry key
    name: str = ""
    #: the kernel family that runs it: ``td_conv_<kernel>_s8`` / ``td_fc_<kernel>_s8``
    kernel: str = ""

    @abstractmethod
    def encode(self, w2d: np.ndarray, layer: str = "layer") -> EncodedWeights:
        """Encode an int8 [rows, K] matrix; ``layer`` only names it in error messages."""

    @abstractmethod
    def decode(self, encoded: EncodedWeights) -> np.ndarray:
        """Rebuild the int8 [rows, K] matrix."""

    def nbytes(self, encoded: EncodedWeights) -> int:
        """Storage bytes of ``encoded``."""
        return encoded.nbytes
