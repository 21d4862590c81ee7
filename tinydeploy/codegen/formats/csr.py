"""CSR format: values int8[nnz], narrow column indices, row pointers and row sums
(td_csr_weights)."""

from __future__ import annotations

import numpy as np

from tinydeploy.codegen.formats.base import (
    EncodedWeights,
    WeightFormat,
    WeightFormatError,
    check_weights,
)


class CsrFormat(WeightFormat):
    """``col_idx_u8`` when K <= 256 else ``col_idx_u16``; ``row_ptr_u16`` when nnz <= 65535
    else ``row_ptr_u32``. Columns ascending within a row."""

    name = "csr"

    def encode(self, w2d: np.ndarray, layer: str = "layer") -> EncodedWeights:
        w = check_weights(w2d)
        rows, cols = w.shape
        if cols > 65536:
            raise WeightFormatError(f"{layer}: K={cols} exceeds the 16-bit CSR column index")
        r_idx, c_idx = np.nonzero(w)  # row-major order: rows ascending, columns ascending
        nnz = int(r_idx.size)
        row_ptr = np.zeros(rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(r_idx, minlength=rows), out=row_ptr[1:])
        col_name, col_dtype = (
            ("col_idx_u8", np.uint8) if cols <= 256 else ("col_idx_u16", np.uint16)
        )
        ptr_name, ptr_dtype = (
            ("row_ptr_u16", np.uint16) if nnz <= 65535 else ("row_ptr_u32", np.uint32)
        )
        arrays = {
            "values": w[r_idx, c_idx].astype(np.int8),
            col_name: c_idx.astype(col_dtype),
            ptr_name: row_ptr.astype(ptr_dtype),
            # lets kernels fold the input offset into the bias (bias + offset * row_sum)
            "row_sum": w.sum(axis=1, dtype=np.int64).astype(np.int32),
        }
        return EncodedWeights(
            self.name, (rows, cols), arrays, {"rows": rows, "cols": cols, "nnz": nnz}
        )

    def decode(self, encoded: EncodedWeights) -> np.ndarray:
        rows, cols = encoded.shape
        a = encoded.arrays
        cols_arr = a["col_idx_u8"] if "col_idx_u8" in a else a["col_idx_u16"]
        ptr = (a["row_ptr_u16"] if "row_ptr_u16" in a else a["row_ptr_u32"]).astype(np.int64)
        w = np.zeros((rows, cols), dtype=np.int8)
        row_of = np.repeat(np.arange(rows), np.diff(ptr))
        w[row_of, cols_arr.astype(np.int64)] = a["values"]
        return w
