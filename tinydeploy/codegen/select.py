"""Per-layer weight format choice (dense / CSR / N:M / auto) and the latency cost-model hook.

`auto` picks, per layer, the encoding with the fewest flash bytes (sparse conv: incl. taps).
A cost model (shipped as `tinydeploy/resources/cost_models/cortex-m4.json`; the kernel
benchmark refits it with `--write-cost-model`) adds an estimated instruction count per
candidate to the report and, with objective="latency", decides.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinydeploy.errors import ExportError, unknown_choice
from tinydeploy.resources import cost_model_path
from tinydeploy.tdnn.formats import (
    EncodedWeights,
    WeightFormatError,
    candidate_formats,
    format_names,
    get_format,
)
from tinydeploy.tdnn.formats.nm import VALID_M
from tinydeploy.tdnn.taps import taps_bytes

SPARSE_MODES = ("auto", "dense", "csr", "nm")  # the modes; any format name is one too
DEFAULT_COST_MODEL = cost_model_path("cortex-m4")


@dataclass(frozen=True)
class LayerStats:
    """What a cost model needs to know about one weighted layer (theoretical counts)."""

    op: str  # "conv", "dwconv" or "fc"
    rows: int
    cols: int
    nnz: int
    positions: int  # output pixels (1 for fc)

    @property
    def dense_macs(self) -> int:
        return self.rows * self.cols * self.positions

    @property
    def nnz_macs(self) -> int:
        return self.nnz * self.positions


@dataclass
class CostModel:
    """Linear latency model fitted by the kernel micro-benchmark (`benchmarks/kernels`), stored
    as `cost_model.{conv,fc}.{dense,csr,nm<N>_<M>,nm}` with coefficients for
    instructions ~= kernel_macs*c1 + conv_out_elems*c2 + aux_elems*c3 + one, where kernel_macs
    are the MACs the kernel executes (dense: all, CSR: nonzeros, N:M: stored slots), the
    output elements are counted before fused pooling, and aux_elems is positions x K for conv
    (im2col work) or in_features for fc. Estimates, not measurements."""

    coefficients: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    source: str = ""

    @classmethod
    def load(cls, path: str | Path | None = None) -> CostModel | None:
        path = Path(path) if path is not None else DEFAULT_COST_MODEL
        if not path.is_file():
            return None
        try:
            section = json.loads(path.read_text()).get("cost_model")
        except (OSError, json.JSONDecodeError):
            return None
        if not isinstance(section, dict):
            return None
        coeffs = {
            op: {fmt: {k: float(v) for k, v in c.items() if isinstance(v, int | float)}
                 for fmt, c in table.items() if isinstance(c, dict)}
            for op, table in section.items() if op in ("conv", "fc") and isinstance(table, dict)
        }
        return cls(coeffs, str(path))

    def estimate(self, stats: LayerStats, enc: EncodedWeights) -> float | None:
        table = self.coefficients.get(stats.op, {})
        fmt = get_format(enc.format)
        # a format without its own fit (e.g. csrd) uses its kernel family's, over the
        # entries it stores
        c = table.get(enc.format) or table.get(fmt.kernel)
        if c is None:
            return None
        executed = fmt.executed_entries(enc)
        aux = stats.positions * stats.cols if stats.op == "conv" else stats.cols
        return (c.get("kernel_macs", 0.0) * executed * stats.positions
                + c.get("conv_out_elems", 0.0) * stats.rows * stats.positions
                + c.get("aux_elems", 0.0) * aux + c.get("one", 0.0))


def flash_bytes(enc: EncodedWeights, op: str) -> int:
    """Flash bytes the generated model stores for one layer's weights: the encoding, plus the
    receptive-field taps (td_conv_taps) that sparse conv kernels read."""
    fmt = get_format(enc.format)
    if op == "conv" and fmt.conv_taps:  # the taps, and only the arrays the kernel reads
        return fmt.for_conv(enc).nbytes + taps_bytes(enc)
    return enc.nbytes


def candidates(w2d: np.ndarray, op: str, layer: str) -> list[EncodedWeights]:
    """Every encoding the kernels can run for this layer (dense first)."""
    return [fmt.encode(w2d, layer) for fmt in candidate_formats(w2d, op)]


def validate_mode(mode: str) -> str:
    """`auto`, `nm` (best N:M pattern) or any concrete format name (dense, csr, csrd,
    nm<N>_<M>)."""
    if mode in SPARSE_MODES:
        return mode
    if mode.startswith("nm") or mode in format_names():
        get_format(mode)  # raises listing the valid names
        return mode
    raise unknown_choice("sparse format", mode, [*SPARSE_MODES, "csrd", "nm<N>_<M>"])


def choose(w2d: np.ndarray, stats: LayerStats, layer: str, mode: str,
           cost_model: CostModel | None = None, objective: str = "bytes"
           ) -> tuple[EncodedWeights, list[dict]]:
    """(chosen encoding, report rows for every candidate) for one layer."""
    cands = candidates(w2d, stats.op, layer)
    rows = []
    for enc in cands:
        est = cost_model.estimate(stats, enc) if cost_model else None
        rows.append({"format": enc.format, "bytes": flash_bytes(enc, stats.op),
                     "est_instructions": est})
    if len(cands) == 1 or (mode not in ("auto", "nm")
                           and stats.op not in get_format(mode).layers):
        return cands[0], rows  # only dense kernels serve this layer (depthwise), any mode
    if mode not in ("auto", "nm"):  # a concrete format
        listed = [e for e in cands if e.format == mode]
        if listed:
            return listed[0], rows
        try:
            enc = get_format(mode).encode(w2d, layer)
        except WeightFormatError as exc:
            raise ExportError(f"layer {layer} does not satisfy {mode}: {exc}") from exc
        rows.append({"format": enc.format, "bytes": flash_bytes(enc, stats.op),
                     "est_instructions": cost_model.estimate(stats, enc) if cost_model else None})
        return enc, rows
    pool = ([e for e in cands if get_format(e.format).kernel == "nm"] if mode == "nm"
            else cands)
    if not pool:
        raise ExportError(f"layer {layer} does not satisfy any N:M pattern (M in {VALID_M}); "
                          "use --sparse auto or csr")
    if objective == "latency":
        if cost_model is None:
            raise ExportError("objective 'latency' needs a cost model (kernels_m4.json)")
        scored = [(cost_model.estimate(stats, e), i, e) for i, e in enumerate(pool)]
        scored = [s for s in scored if s[0] is not None]
        if scored:
            return min(scored, key=lambda s: (s[0], s[1]))[2], rows
    return min(pool, key=lambda e: (flash_bytes(e, stats.op), pool.index(e))), rows


def allocated_formats(meta: dict[str, Any], graph) -> dict[str, str] | None:
    """{graph op name: format} from a latency-aware checkpoint's metadata (None otherwise),
    re-matched to this graph's weighted ops in order."""
    info = meta.get("latency")
    if not info:
        return None
    layers = info["allocation"]["layers"]
    ops = [op.name for op in graph.weighted_ops()]
    if len(ops) != len(layers):
        raise ExportError("the checkpoint's latency allocation does not match the "
                          "exported graph's layers")
    order = list(info["layer_map"])
    return {op: layers[t]["format"] for t, op in zip(order, ops, strict=True)}
