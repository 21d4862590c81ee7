"""Zero int8 weights into the pattern a weight format needs, at a given sparsity.

Magnitude order (smallest |w| first, ties by position) on the weight matrix as the
generator lays it out (rows = output channels, columns = the flattened kernel), so the
pattern is the one a magnitude-pruned model of that shape would have.
"""

from __future__ import annotations

import re

import numpy as np

from tinydeploy.errors import ExportError

_NM = re.compile(r"nm(\d+)_(\d+)")


def nm_pattern(fmt: str) -> tuple[int, int] | None:
    m = _NM.fullmatch(fmt)
    return (int(m.group(1)), int(m.group(2))) if m else None


def format_sparsity(fmt: str, sparsity: float) -> float:
    """The sparsity a point of `fmt` has: N:M fixes it (1 - N/M), dense is measured dense."""
    pattern = nm_pattern(fmt)
    if pattern:
        return 1.0 - pattern[0] / pattern[1]
    return 0.0 if fmt == "dense" else float(sparsity)


def sparsify(w2d: np.ndarray, fmt: str, sparsity: float) -> np.ndarray:
    """A copy of `w2d` with zeros where `fmt` at `sparsity` puts them."""
    if not 0.0 <= sparsity < 1.0:
        raise ExportError(f"sparsity must be in [0, 1), got {sparsity}")
    out = np.array(w2d, dtype=np.int8, copy=True)
    pattern = nm_pattern(fmt)
    if pattern is not None:
        n, m = pattern
        rows, k = out.shape
        groups = -(-k // m)
        padded = np.zeros((rows, groups * m), dtype=np.int16)
        padded[:, :k] = out
        blocks = np.abs(padded.reshape(rows, groups, m))
        # keep the n largest of each group (stable: earlier position wins a tie)
        order = np.argsort(-blocks, axis=2, kind="stable")
        keep = np.zeros_like(blocks, dtype=bool)
        np.put_along_axis(keep, order[:, :, :n], True, axis=2)
        out[~keep.reshape(rows, groups * m)[:, :k]] = 0
        return out
    if fmt == "dense" and sparsity == 0.0:
        return out
    drop = round(sparsity * out.size)
    order = np.argsort(np.abs(out.astype(np.int16)).ravel(), kind="stable")
    out.ravel()[order[:drop]] = 0
    return out
