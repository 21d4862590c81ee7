"""Test images for the on-device benchmark: `test_data.h/.c` and the chunk plan.

The images, labels and expected outputs come from `test_vectors.npz` in the model
directory (arrays `inputs` [N, TDM_INPUT_SIZE], `labels` int [N] (-1 = unknown) and
`expected` [N, TDM_OUTPUT_SIZE], the reference outputs, e.g. from TFLite Micro) or from the
caller. Inputs and outputs are int8, or uint8 / float32 for a model with such edges (the
array's dtype says which; test_data.h checks it against model.h's). They are embedded in
flash; when N images do not fit next to the model they are split into chunks (offset,
count), one firmware build and run per chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinydeploy.errors import FirmwareError
from tinydeploy.ir.ops.bytemap import c_float
from tinydeploy.rundir import write_text_atomic

VECTORS_FILE = "test_vectors.npz"
#: the C element type of the vectors of each dtype (model.h's tdm_input_t / tdm_output_t)
C_TYPES = {"int8": "int8_t", "uint8": "uint8_t", "float32": "float"}
PER_LINE = 32  # labels per line


@dataclass(frozen=True)
class TestVectors:
    inputs: np.ndarray  # int8 (uint8, float32) [N, input_size]
    labels: np.ndarray  # int16 [N]
    expected: np.ndarray  # int8 (uint8, float32) [N, output_size]
    source: str = "caller"

    def __post_init__(self) -> None:
        n = len(self.inputs)
        if self.inputs.ndim != 2 or self.expected.ndim != 2 or self.labels.shape != (n,):
            raise FirmwareError(
                f"test vectors need inputs [N, in], labels [N], expected [N, out]; got "
                f"{self.inputs.shape}, {self.labels.shape}, {self.expected.shape}"
            )
        if len(self.expected) != n:
            raise FirmwareError(f"{n} inputs but {len(self.expected)} expected outputs")

    def __len__(self) -> int:
        return len(self.inputs)

    def bytes_per_sample(self) -> int:
        return (self.inputs.shape[1] * self.inputs.itemsize
                + self.expected.shape[1] * self.expected.itemsize + 2)

    def select(self, offset: int, count: int) -> TestVectors:
        sl = slice(offset, offset + count)
        return TestVectors(self.inputs[sl], self.labels[sl], self.expected[sl], self.source)


def _as_elements(name: str, a: np.ndarray) -> np.ndarray:
    """uint8 and float32 arrays as they are (a model with such edges); anything else int8."""
    a = np.asarray(a)
    if a.dtype in (np.uint8, np.float32):
        if a.dtype == np.float32 and not np.isfinite(a).all():
            raise FirmwareError(f"test vector array {name} has non-finite values")
        return a
    if a.size and (a.min() < -128 or a.max() > 127):
        raise FirmwareError(f"test vector array {name} has values outside int8")
    return a.astype(np.int8)


def make_vectors(inputs, labels, expected, source: str = "caller") -> TestVectors:
    inputs = _as_elements("inputs", np.asarray(inputs).reshape(len(inputs), -1))
    expected = _as_elements("expected", np.asarray(expected).reshape(len(expected), -1))
    return TestVectors(inputs, np.asarray(labels).astype(np.int16), expected, source)


def load_vectors(model_dir: Path) -> TestVectors | None:
    """`test_vectors.npz` from the model directory, or None when there is none."""
    path = Path(model_dir) / VECTORS_FILE
    if not path.exists():
        return None
    try:
        with np.load(path) as z:
            return make_vectors(z["inputs"], z["labels"], z["expected"], source=str(path))
    except (OSError, KeyError, ValueError) as exc:
        raise FirmwareError(f"cannot read test vectors {path}: {exc}") from exc


def plan_chunks(n: int, per_chunk: int) -> list[tuple[int, int]]:
    """[(offset, count), ...] covering n samples with at most per_chunk each."""
    if per_chunk < 1:
        raise FirmwareError("no room in flash for even one test image next to the model")
    return [(off, min(per_chunk, n - off)) for off in range(0, n, per_chunk)]


def _flat(a: np.ndarray) -> str:
    flat = [str(int(v)) for v in np.ravel(a)]
    return ",\n".join(
        "    " + ", ".join(flat[i:i + PER_LINE]) for i in range(0, len(flat), PER_LINE)
    )


def _rows(a: np.ndarray) -> str:
    """One braced row per image (no -Wmissing-braces); float32 as exact hex literals."""
    text = c_float if a.dtype == np.float32 else (lambda v: str(int(v)))
    return ",\n".join("    {" + ", ".join(text(v) for v in row) + "}" for row in a)


def _dtype_check(side: str, a: np.ndarray) -> str:
    dtype = str(a.dtype)
    return (f"#ifndef TDM_{side}_IS_{dtype.upper()}\n#error \"test_data.h holds {dtype} "
            f"{side.lower()}s, model.h's are not {dtype}\"\n#endif\n")


def write_test_data(out_dir: Path, vectors: TestVectors, offset: int) -> tuple[Path, Path]:
    """Write test_data.h/.c for one chunk (global index of its first image: `offset`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    n = len(vectors)
    if n == 0:
        raise FirmwareError("no test images selected")
    in_size, out_size = vectors.inputs.shape[1], vectors.expected.shape[1]
    # int8 models keep the header they always had (no dtype macros needed)
    dtype_checks = "".join(_dtype_check(side, a) for side, a in
                           (("INPUT", vectors.inputs), ("OUTPUT", vectors.expected))
                           if a.dtype != np.int8)
    in_type, out_type = C_TYPES[str(vectors.inputs.dtype)], C_TYPES[str(vectors.expected.dtype)]
    provenance = (
        f"/* Generated by tinydeploy.firmware.testdata from {vectors.source}: images "
        f"{offset}..{offset + n - 1}. Do not edit. */\n"
    )
    header = provenance + f"""#ifndef TD_TEST_DATA_H
#define TD_TEST_DATA_H
#include <stdint.h>
#include "model.h"

#define TD_TEST_COUNT {n}
#define TD_TEST_OFFSET {offset}
#if TDM_INPUT_SIZE != {in_size} || TDM_OUTPUT_SIZE != {out_size}
#error "test_data.h was generated for other input/output sizes than model.h"
#endif
{dtype_checks}
extern const {in_type} td_test_inputs[TD_TEST_COUNT][TDM_INPUT_SIZE];
extern const {out_type} td_test_expected[TD_TEST_COUNT][TDM_OUTPUT_SIZE];
extern const int16_t td_test_labels[TD_TEST_COUNT];

#endif
"""
    source = provenance + f"""#include "test_data.h"

const {in_type} td_test_inputs[TD_TEST_COUNT][TDM_INPUT_SIZE] = {{
{_rows(vectors.inputs)}
}};
const {out_type} td_test_expected[TD_TEST_COUNT][TDM_OUTPUT_SIZE] = {{
{_rows(vectors.expected)}
}};
const int16_t td_test_labels[TD_TEST_COUNT] = {{
{_flat(vectors.labels)}
}};
"""
    h = out_dir / "test_data.h"
    c = out_dir / "test_data.c"
    # unchanged content keeps its mtime, so SCons does not recompile it
    for path, text in ((h, header), (c, source)):
        if not path.exists() or path.read_text() != text:
            write_text_atomic(path, text)
    return h, c
