"""CSR formats (td_csr_weights): values int8[nnz], narrow column indices, row pointers and
row sums. ``csr`` stores column indices (u8 / u16), ``csrd`` delta-codes them in one byte
per entry (fully connected layers with K > 256: 2 instead of 3 bytes per nonzero)."""

from __future__ import annotations

import numpy as np

from tinydeploy.tdnn.formats.base import (
    Descriptor,
    EncodedWeights,
    WeightFormat,
    WeightFormatError,
    check_weights,
)

CSR_DESCRIPTOR = Descriptor(
    "td_csr_weights", "csr",
    (("rows", "cols", "nnz", "values"), ("col_idx_u8", "col_idx_u16"),
     ("row_ptr_u16", "row_ptr_u32"), ("row_sum", "col_delta_u8")),
    frozenset({"rows", "cols", "nnz"}))


class CsrFormat(WeightFormat):
    """``col_idx_u8`` when K <= 256 else ``col_idx_u16``; ``row_ptr_u16`` when nnz <= 65535
    else ``row_ptr_u32``. Columns ascending within a row."""

    name = "csr"
    kernel = "csr"
    descriptor = CSR_DESCRIPTOR
    conv_taps = True
    conv_reads = ("row_ptr_u16", "row_ptr_u32", "row_sum")  # taps carry columns and values
    order = 10

    def encode(self, w2d: np.ndarray, layer: str = "layer") -> EncodedWeights:
        w = check_weights(w2d)
        rows, cols = w.shape
        if cols > 65536:
            raise WeightFormatError(f"{layer}: K={cols} exceeds the 16-bit CSR column index")
        r_idx, c_idx = np.nonzero(w)  # row-major order: rows ascending, columns ascending
        col_name, col_dtype = (
            ("col_idx_u8", np.uint8) if cols <= 256 else ("col_idx_u16", np.uint16)
        )
        ptr_name, ptr = _row_pointers(np.bincount(r_idx, minlength=rows))
        arrays = {
            "values": w[r_idx, c_idx].astype(np.int8),
            col_name: c_idx.astype(col_dtype),
            ptr_name: ptr,
            # lets kernels fold the input offset into the bias (bias + offset * row_sum)
            "row_sum": w.sum(axis=1, dtype=np.int64).astype(np.int32),
        }
        return EncodedWeights(
            self.name, (rows, cols), arrays, {"rows": rows, "cols": cols, "nnz": int(r_idx.size)}
        )

    def executed_entries(self, encoded: EncodedWeights) -> int:
        return int(encoded.scalars["nnz"])

    def columns(self, encoded: EncodedWeights) -> np.ndarray:
        """Column of every stored entry, in storage order."""
        a = encoded.arrays
        return (a["col_idx_u8"] if "col_idx_u8" in a else a["col_idx_u16"]).astype(np.int64)

    def entry_columns(self, encoded: EncodedWeights) -> tuple[np.ndarray, np.ndarray]:
        return self.columns(encoded), encoded.arrays["values"].astype(np.int64)

    def decode(self, encoded: EncodedWeights) -> np.ndarray:
        rows, cols = encoded.shape
        ptr = _stored_row_pointers(encoded)
        w = np.zeros((rows, cols), dtype=np.int8)
        row_of = np.repeat(np.arange(rows), np.diff(ptr))
        w[row_of, self.columns(encoded)] = encoded.arrays["values"]  # csrd fillers: value 0
        return w


def _stored_row_pointers(encoded: EncodedWeights) -> np.ndarray:
    a = encoded.arrays
    return (a["row_ptr_u16"] if "row_ptr_u16" in a else a["row_ptr_u32"]).astype(np.int64)


def _row_pointers(counts: np.ndarray) -> tuple[str, np.ndarray]:
    nnz = int(counts.sum())
    ptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    if nnz <= 65535:
        return "row_ptr_u16", ptr.astype(np.uint16)
    return "row_ptr_u32", ptr.astype(np.uint32)


class CsrDeltaFormat(CsrFormat):
    """``col_delta_u8``: a row's first entry at column delta[0], each next one at the
    previous column + delta. A gap over 255 is bridged by stored zero-valued entries
    (every 255 columns), which nnz and the row pointers count."""

    name = "csrd"  # same kernels as csr: they read either column coding
    order = 20

    @classmethod
    def candidates(cls, w2d: np.ndarray, layer_kind: str) -> list[WeightFormat]:
        # 16-bit columns (K > 256) of a fully connected layer: delta coding halves them
        return [cls()] if layer_kind == "fc" and w2d.shape[1] > 256 else []

    def encode(self, w2d: np.ndarray, layer: str = "layer") -> EncodedWeights:
        w = check_weights(w2d)
        rows, cols = w.shape
        values: list[int] = []
        deltas: list[int] = []
        counts = np.zeros(rows, dtype=np.int64)
        for r in range(rows):
            prev = 0
            for c in np.flatnonzero(w[r]):
                while c - prev > 255:  # filler entry: value 0, 255 columns on
                    prev += 255
                    values.append(0)
                    deltas.append(255)
                    counts[r] += 1
                values.append(int(w[r, c]))
                deltas.append(int(c - prev))
                prev = int(c)
                counts[r] += 1
        ptr_name, ptr = _row_pointers(counts)
        arrays = {
            "values": np.asarray(values, dtype=np.int8),
            "col_delta_u8": np.asarray(deltas, dtype=np.uint8),
            ptr_name: ptr,
            "row_sum": w.sum(axis=1, dtype=np.int64).astype(np.int32),
        }
        return EncodedWeights(self.name, (rows, cols), arrays,
                              {"rows": rows, "cols": cols, "nnz": int(counts.sum())})

    def columns(self, encoded: EncodedWeights) -> np.ndarray:
        """Column of every stored entry (fillers included), in storage order."""
        ptr = _stored_row_pointers(encoded)
        deltas = encoded.arrays["col_delta_u8"].astype(np.int64)
        return np.concatenate([np.cumsum(deltas[ptr[r]:ptr[r + 1]])
                               for r in range(len(ptr) - 1)] or [np.zeros(0, np.int64)])
