"""N:M structured sparsity (td_nm_weights): n slots per group of m consecutive columns."""

from __future__ import annotations

import re

import numpy as np

from tinydeploy.tdnn.formats.base import (
    Descriptor,
    EncodedWeights,
    WeightFormat,
    WeightFormatError,
    check_weights,
)

VALID_M = (2, 4, 8, 16)


def meta_row_bytes(groups: int, n: int, m: int) -> int:
    """Bytes per row of packed metadata: 4 * ceil(groups * n * log2(m) / 32)."""
    bits = groups * n * (m.bit_length() - 1)
    return 4 * ((bits + 31) // 32)


NM_DESCRIPTOR = Descriptor(
    "td_nm_weights", "nm",
    (("rows", "cols", "n", "m", "meta_row_bytes"), ("values", "meta", "row_sum")),
    frozenset({"rows", "cols", "n", "m", "meta_row_bytes"}))
_NAME = re.compile(r"nm(\d+)_(\d+)")


def tightest_nm(w2d: np.ndarray) -> list[str]:
    """For each M, the smallest N such that every group of M columns has <= N nonzeros."""
    rows, k = w2d.shape
    names = []
    for m in VALID_M:
        groups = -(-k // m)
        padded = np.zeros((rows, groups * m), dtype=bool)
        padded[:, :k] = w2d != 0
        n = int(padded.reshape(rows, groups, m).sum(axis=2).max())
        if n < m:
            names.append(f"nm{max(n, 1)}_{m}")
    return names


class NmFormat(WeightFormat):
    """Rows padded to Kp = ceil(K/m)*m; every group keeps exactly n slots (value 0 when the
    group has fewer nonzeros) in ascending position order; positions packed LSB-first,
    log2(m) bits each, each row starting at a multiple of 4 bytes."""

    kernel = "nm"
    descriptor = NM_DESCRIPTOR
    conv_taps = True
    conv_reads = ("row_sum",)  # taps carry positions and values
    order = 30

    @classmethod
    def parse(cls, name: str) -> WeightFormat | None:
        match = _NAME.fullmatch(name)
        if match is None:
            return None
        n, m = int(match.group(1)), int(match.group(2))
        return cls(n, m) if m in VALID_M and 1 <= n < m else None

    @classmethod
    def names(cls) -> list[str]:
        return [f"nm{n}_{m}" for m in VALID_M for n in range(1, m)]

    @classmethod
    def candidates(cls, w2d: np.ndarray, layer_kind: str) -> list[WeightFormat]:
        """The tightest N for each M the weights satisfy."""
        if layer_kind not in cls.layers:
            return []
        return [cls.parse(name) for name in tightest_nm(w2d)]

    def __init__(self, n: int, m: int) -> None:
        if m not in VALID_M or not 1 <= n < m:
            raise WeightFormatError(f"invalid N:M {n}:{m}: need 1 <= n < m, m in {VALID_M}")
        self.n = n
        self.m = m
        self.name = f"nm{n}_{m}"

    def encode(self, w2d: np.ndarray, layer: str = "layer") -> EncodedWeights:
        w = check_weights(w2d)
        n, m = self.n, self.m
        rows, k = w.shape
        groups = -(-k // m)
        padded = np.zeros((rows, groups * m), dtype=np.int8)
        padded[:, :k] = w
        grouped = padded.reshape(rows, groups, m)
        nz = grouped != 0
        counts = nz.sum(axis=2)
        if (counts > n).any():
            r, g = np.argwhere(counts > n)[0]
            raise WeightFormatError(
                f"{layer}: row {r} group {g} (columns {g * m}..{g * m + m - 1}) has "
                f"{counts[r, g]} nonzeros, more than N={n} of {n}:{m}"
            )
        # Slot order: the nonzero positions ascending, then the lowest zero positions to fill
        # up to n slots, all sorted ascending (stable sort on "is zero" keeps position order).
        order = np.argsort(~nz, axis=2, kind="stable")[:, :, :n]
        pos = np.sort(order, axis=2)
        values = np.take_along_axis(grouped, pos, axis=2).reshape(-1).astype(np.int8)
        bits = m.bit_length() - 1
        stride = meta_row_bytes(groups, n, m)
        slot_bits = ((pos.reshape(rows, groups * n)[:, :, None] >> np.arange(bits)) & 1).reshape(
            rows, -1
        )
        row_bits = np.zeros((rows, stride * 8), dtype=np.uint8)
        row_bits[:, : slot_bits.shape[1]] = slot_bits
        meta = np.packbits(row_bits, axis=1, bitorder="little").reshape(-1)
        return EncodedWeights(
            self.name,
            (rows, k),
            {"values": values, "meta": meta.astype(np.uint8),
             "row_sum": w.sum(axis=1, dtype=np.int64).astype(np.int32)},
            {"rows": rows, "cols": k, "n": n, "m": m, "meta_row_bytes": stride},
        )

    def slot_positions(self, encoded: EncodedWeights) -> np.ndarray:
        """In-group position of every slot, int64 [rows, groups, n]."""
        rows, k = encoded.shape
        n, m = self.n, self.m
        groups = -(-k // m)
        bits = m.bit_length() - 1
        stride = encoded.scalars["meta_row_bytes"]
        row_bits = np.unpackbits(
            encoded.arrays["meta"].reshape(rows, stride), axis=1, bitorder="little"
        )[:, : groups * n * bits].reshape(rows, groups, n, bits)
        return (row_bits.astype(np.int64) << np.arange(bits)).sum(axis=3)

    def executed_entries(self, encoded: EncodedWeights) -> int:
        rows, k = encoded.shape
        return rows * -(-k // self.m) * self.n  # every slot, zero-valued padding included

    def entry_columns(self, encoded: EncodedWeights) -> tuple[np.ndarray, np.ndarray]:
        k = encoded.shape[1]
        pos = self.slot_positions(encoded)
        cols = (np.arange(pos.shape[1])[None, :, None] * self.m + pos).reshape(-1)
        return np.where(cols < k, cols, -1), encoded.arrays["values"].astype(np.int64)

    def decode(self, encoded: EncodedWeights) -> np.ndarray:
        rows, k = encoded.shape
        n, m = self.n, self.m
        groups = -(-k // m)
        pos = self.slot_positions(encoded)
        values = encoded.arrays["values"].reshape(rows, groups, n)
        out = np.zeros((rows, groups, m), dtype=np.int8)
        np.put_along_axis(out, pos, values, axis=2)
        return out.reshape(rows, groups * m)[:, :k].copy()
