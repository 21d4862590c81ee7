"""Dense format: the int8 rows as they are."""

from __future__ import annotations

import numpy as np

from tinydeploy.tdnn.formats.base import EncodedWeights, WeightFormat, check_weights


class DenseFormat(WeightFormat):
    """Row-major int8 [rows][K] (conv: OHWI, fc: [out][in])."""

    name = "dense"
    kernel = "dense"
    layers = ("conv", "dwconv", "fc")
    order = 0

    def encode(self, w2d: np.ndarray, layer: str = "layer") -> EncodedWeights:
        w = check_weights(w2d)
        return EncodedWeights(
            self.name, w.shape, {"values": w.copy()}, {"rows": w.shape[0], "cols": w.shape[1]}
        )

    def executed_entries(self, encoded: EncodedWeights) -> int:
        rows, cols = encoded.shape
        return rows * cols

    def decode(self, encoded: EncodedWeights) -> np.ndarray:
        return encoded.arrays["values"].reshape(encoded.shape).astype(np.int8)
