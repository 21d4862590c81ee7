"""Weight storage formats for the tdnn kernels: one encoder per format, looked up by name.

Names: ``dense``, ``csr``, ``csrd`` (delta-coded CSR columns) and ``nm<N>_<M>`` (e.g.
``nm2_4``, ``nm1_16``). Adding a format is one module plus one line in ``_FIXED``.
"""

from __future__ import annotations

import re

from tinydeploy.codegen.formats.base import (
    C_TYPES,
    EncodedWeights,
    WeightFormat,
    WeightFormatError,
)
from tinydeploy.codegen.formats.csr import CsrDeltaFormat, CsrFormat
from tinydeploy.codegen.formats.dense import DenseFormat
from tinydeploy.codegen.formats.nm import VALID_M, NmFormat
from tinydeploy.errors import unknown_choice

_FIXED: dict[str, type[WeightFormat]] = {
    "dense": DenseFormat,
    "csr": CsrFormat,
    "csrd": CsrDeltaFormat,
}
_NM = re.compile(r"nm(\d+)_(\d+)")


def format_names() -> list[str]:
    """Every valid format name."""
    nm = [f"nm{n}_{m}" for m in VALID_M for n in range(1, m)]
    return [*_FIXED, *nm]


def get_format(name: str) -> WeightFormat:
    """The format called ``name``; unknown names raise an error listing the valid ones."""
    if name in _FIXED:
        return _FIXED[name]()
    match = _NM.fullmatch(name)
    if match:
        n, m = int(match.group(1)), int(match.group(2))
        if m in VALID_M and 1 <= n < m:
            return NmFormat(n, m)
    raise unknown_choice("weight format", name, [*_FIXED, "nm<N>_<M> (1<=N<M, M in 2,4,8,16)"])


__all__ = [
    "C_TYPES",
    "CsrDeltaFormat",
    "CsrFormat",
    "DenseFormat",
    "EncodedWeights",
    "NmFormat",
    "WeightFormat",
    "WeightFormatError",
    "format_names",
    "get_format",
]
