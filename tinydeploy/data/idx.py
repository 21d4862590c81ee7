"""Reader for the IDX format used by MNIST-style datasets (gzipped or raw).

Header: two zero bytes, a type code, the number of dimensions, then one big-endian uint32
per dimension. We validate every part of it and the payload length, so a truncated or
mislabelled file fails with a message naming the file and what is wrong.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from tinydeploy.errors import DataError

_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path} is a corrupt or truncated gzip file ({exc})") from exc
    return raw


def read_idx(path: str | Path, *, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file into a numpy array, validating magic number, rank and length."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path} is too short to be an IDX file ({len(data)} bytes)")
    zero, type_code, rank = struct.unpack(">HBB", data[:4])
    if zero != 0 or type_code not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number 0x{data[:4].hex()})")
    if ndim is not None and rank != ndim:
        raise DataError(f"{path} has {rank} dimensions, expected {ndim}")
    header_len = 4 + 4 * rank
    if len(data) < header_len:
        raise DataError(f"{path} is truncated inside its header")
    shape = struct.unpack(f">{rank}I", data[4:header_len])
    dtype = _IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    payload = len(data) - header_len
    if payload != expected:
        what = "truncated" if payload < expected else "longer than its header says"
        raise DataError(
            f"{path} is {what}: header shape {shape} needs {expected} bytes, found {payload}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # a writable, native-endian copy
