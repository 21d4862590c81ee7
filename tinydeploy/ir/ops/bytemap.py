"""Elementwise ops on 8-bit tensors as a 256-entry table (LOGISTIC, HARD_SWISH, 8-bit
QUANTIZE): an int8 or uint8 input takes only 256 values, so the generator evaluates the op's
numpy reference (TFLM's integer arithmetic, bit-exact) on every one of them and the device
looks the bytes up (tdnn's td_lut_s8). The table is exact by construction, whatever the
arithmetic, and costs 256 bytes of flash per layer."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinydeploy.ir.ops.base import CEmitter, EmitCall


def byte_table(fn: Callable[[np.ndarray], np.ndarray], in_dtype: str) -> np.ndarray:
    """int8[256]: entry b is fn(byte b read as `in_dtype`), its result's byte."""
    values = np.arange(256, dtype=np.uint8).view(np.dtype(in_dtype))
    out = np.ascontiguousarray(fn(values[None])[0])
    assert out.dtype.itemsize == 1, out.dtype  # an 8-bit result
    return out.view(np.int8)


def emit_table_lookup(em: CEmitter, call: EmitCall, table: np.ndarray) -> list[str]:
    """The table as a flash array and the td_lut_s8 call over the whole tensor (int8 and
    uint8 tensors are passed as bytes)."""
    op, p = call.layer.op, call.p
    assert table.dtype == np.int8 and table.size == 256
    em.decls.append(em.array(f"{p}_table", "int8_t", table))
    size = em.g.tensors[op.output].size
    return [f"    st = td_lut_s8({p}_table, (const int8_t *){call.ins[0]}, "
            f"(int8_t *){call.out}, {size});"]


def c_float(x: float) -> str:
    """A float32 as an exact C99 hex literal (0x1.8p+1f)."""
    mantissa, exponent = float(np.float32(x)).hex().split("p")
    return f"{mantissa.rstrip('0').rstrip('.')}p{exponent}f"
