"""The benchmark report's JSON schema (stable, versioned) and its derived numbers.

A report holds one entry per deployed *variant* (a model x sparsity x method x weight
format). Theoretical quantities (MACs, nonzeros, bytes computed from the arrays) and measured
ones (accuracy on device, instructions or cycles, flash/RAM read from the ELF) are kept in
separate, labelled fields. See README.md, "Report schema".
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tinydeploy.errors import TinydeployError

SCHEMA = "tinydeploy.report/1"


@dataclass
class LayerRow:
    name: str
    op: str
    shape: str  # e.g. "16x3x3x8 (OHWI)"
    params: int
    nnz: int
    format: str
    bytes: int
    macs: int  # dense MACs (theoretical)
    effective_macs: int  # MACs with nonzero weights (theoretical)
    latency: float | None = None  # measured, in the variant's latency unit
    predicted_latency: float | None = None  # latency-aware variants: the cost table's prediction


@dataclass
class Variant:
    id: str
    method: str  # pruning method ("none" for the dense baseline)
    sparsity: float  # achieved weight sparsity (0..1)
    format: str  # dense | csr | nm | auto
    accuracy_float: float | None = None  # percent, PyTorch float model
    accuracy_int8_host: float | None = None  # percent, int8 model on the host (TFLM)
    accuracy_device: float | None = None  # percent, measured on the target
    device_samples: int | None = None
    output_mismatches: int | None = None  # images whose int8 outputs differ from the host's
    weight_bytes: int | None = None
    code_bytes: int | None = None
    flash_total: int | None = None
    peak_ram: int | None = None
    macs_dense: int | None = None
    macs_effective: int | None = None
    latency_per_inference: float | None = None
    latency_unit: str = "instructions"  # "instructions" (QEMU) or "cycles" (DWT on boards)
    layers: list[LayerRow] = field(default_factory=list)
    group: str | None = None  # plots join variants of one group across sparsities (default: method)

    @property
    def compression_ratio(self) -> float | None:
        return 1.0 / (1.0 - self.sparsity) if self.sparsity < 1 else None


@dataclass
class Report:
    run: dict[str, Any]
    variants: list[Variant]
    baseline: str  # id of the dense int8 variant the deltas refer to
    schema: str = SCHEMA

    def variant(self, vid: str) -> Variant:
        for v in self.variants:
            if v.id == vid:
                return v
        raise TinydeployError(f"report has no variant {vid!r}")

    def deltas(self, v: Variant) -> dict[str, float | None]:
        """Differences against the dense int8 baseline (percentage points and ratios)."""
        base = self.variant(self.baseline)

        def diff(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else a - b

        def ratio(a: float | None, b: float | None) -> float | None:
            return None if a is None or not b else a / b

        return {
            "accuracy_device_pp": diff(v.accuracy_device, base.accuracy_device),
            "accuracy_int8_host_pp": diff(v.accuracy_int8_host, base.accuracy_int8_host),
            "flash_ratio": ratio(v.flash_total, base.flash_total),
            "weight_bytes_ratio": ratio(v.weight_bytes, base.weight_bytes),
            "latency_ratio": ratio(v.latency_per_inference, base.latency_per_inference),
            "speedup": ratio(base.latency_per_inference, v.latency_per_inference),
            "ram_ratio": ratio(v.peak_ram, base.peak_ram),
        }

    def to_dict(self) -> dict[str, Any]:
        variants = []
        for v in self.variants:
            d = asdict(v)
            d["compression_ratio"] = v.compression_ratio
            d["deltas"] = self.deltas(v)
            variants.append(d)
        return {"schema": self.schema, "run": self.run, "baseline": self.baseline,
                "variants": variants}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Report:
        if d.get("schema") != SCHEMA:
            raise TinydeployError(
                f"unsupported report schema {d.get('schema')!r}; this version reads {SCHEMA}"
            )
        variants = []
        for raw in d["variants"]:
            raw = {k: v for k, v in raw.items() if k not in ("compression_ratio", "deltas")}
            layers = [LayerRow(**row) for row in raw.pop("layers", [])]
            variants.append(Variant(**raw, layers=layers))
        report = cls(run=d["run"], variants=variants, baseline=d["baseline"])
        report.variant(report.baseline)  # validates the reference
        return report


def load_report(path: str | Path) -> Report:
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    try:
        return Report.from_dict(json.loads(path.read_text()))
    except FileNotFoundError as exc:
        raise TinydeployError(f"no report at {path}") from exc
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise TinydeployError(f"{path} is not a valid tinydeploy report: {exc}") from exc
