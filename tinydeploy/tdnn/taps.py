"""Receptive-field taps of sparse conv layers (``td_conv_taps`` in tdnn_types.h).

What TFLite Micro computes in a kernel's Prepare step is computed here, once, at code
generation: for every stored weight entry (CSR nonzero, or N:M slot including zero-valued
padding slots) the byte offset of its input cell from the window origin in the
zero-point-padded input band, packed with the value into one uint32
(``offset | uint16(value) << 16``), so the kernels never rebuild it on the device.
"""

from __future__ import annotations

import numpy as np

from tinydeploy.tdnn.formats import EncodedWeights, WeightFormatError, get_format


def conv_taps(enc: EncodedWeights, kh: int, kw: int, in_c: int, band_w: int) -> np.ndarray:
    """uint32 taps of a CSR / N:M conv weight matrix (rows x kh*kw*in_c) for an input band
    of ``band_w`` = in_w + pad_left + pad_right cells per row."""
    if enc.shape[1] != kh * kw * in_c:
        raise WeightFormatError(f"weights have K={enc.shape[1]}, expected {kh}x{kw}x{in_c}")
    if ((kh - 1) * band_w + kw) * in_c > 65536:
        raise WeightFormatError("receptive field too wide for 16-bit tap offsets")
    cols, values = get_format(enc.format).entry_columns(enc)
    valid = cols >= 0
    c = np.where(valid, cols, 0)
    ky, kx, ic = c // (kw * in_c), (c // in_c) % kw, c % in_c
    off = np.where(valid, (ky * band_w + kx) * in_c + ic, 0)
    if (values[~valid] != 0).any():
        raise WeightFormatError("nonzero value in an N:M padding slot")
    return (off.astype(np.uint32) | ((values & 0xFFFF).astype(np.uint32) << 16)).astype(np.uint32)


def taps_bytes(enc: EncodedWeights) -> int:
    """Flash bytes of the taps of ``enc`` (4 per stored entry), without computing them."""
    return 4 * get_format(enc.format).executed_entries(enc)
