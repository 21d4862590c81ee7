"""Honest pruning reports: requested vs achieved, per layer and global.

All numbers here are theoretical, computed from the weights (nothing is measured on a
device): non-zeros, sparsity, compression r = n / n_nonzero, MACs for one input (dense, and
"effective" = MACs of the non-zero weights only; padding is not discounted), and parameter
bytes (fp32 dense; int8 weights + int32 bias dense; int8 non-zero values only, without any
index overhead). Layer collapse (a layer left with no weight, or with no live output channel
or input) is detected and reported as a warning.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from tinydeploy.prune.criteria.base import capture
from tinydeploy.prune.masks import prunable_layers


def output_positions(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, int]:
    """Output spatial positions per prunable layer for one input (1 for Linear)."""
    outputs = capture(model, torch.zeros((1, *input_shape)), prunable_layers(model),
                      inputs=False)
    return {n: int(y[0, 0].numel()) if y.dim() == 4 else 1 for n, y in outputs.items()}


def _ratio(n: int, nnz: int) -> float | None:
    return n / nnz if nnz else None


def _sparsity_to_compression(s: float | None) -> float | None:
    if s is None:
        return None
    return 1.0 / (1.0 - s) if s < 1 else None


def sparsity_report(
    model: nn.Module,
    input_shape: tuple[int, ...],
    requested: Mapping[str, float | None] | None = None,
    *,
    requested_global: float | None = None,
    requested_unit: str = "weights",
    collapse_min: int = 1,
) -> dict[str, Any]:
    """Per-layer and global sparsity, compression, MACs, bytes and collapse warnings.

    `requested` maps the pruned layers to their requested sparsity (None: only a global
    target); `requested_global` is the requested sparsity over all prunable weights (default:
    derived from `requested`). `requested_unit` says what the requested fractions count
    ("weights", or "channels" for channel pruning); achieved sparsities always count weights,
    and `live_channels` the channels."""
    requested = dict(requested or {})
    positions = output_positions(model, input_shape)
    rows, warnings = [], []
    tot = {"weights": 0, "nonzeros": 0, "dense_macs": 0, "effective_macs": 0,
           "bytes_fp32": 0, "bytes_int8_dense": 0, "bytes_int8_nonzero": 0, "bias": 0}
    for name, layer in prunable_layers(model).items():
        w = layer.weight.detach()
        n, nnz = w.numel(), int((w != 0).sum())
        b = layer.bias.numel() if layer.bias is not None else 0
        flat = w.reshape(w.shape[0], -1) != 0
        if w.dim() == 4:
            cols = (w != 0).transpose(0, 1).reshape(w.shape[1], -1).any(dim=1)
        else:
            cols = flat.any(dim=0)
        live_rows = flat.any(dim=1)
        if layer.bias is not None:
            live_rows = live_rows | (layer.bias.detach() != 0)
        pos = positions.get(name, 1)
        req = requested.get(name)
        row = {
            "layer": name,
            "type": type(layer).__name__,
            "shape": list(w.shape),
            "weights": n,
            "nonzeros": nnz,
            "requested_sparsity": req,
            "achieved_sparsity": 1 - nnz / n,
            "requested_compression": _sparsity_to_compression(req),
            "achieved_compression": _ratio(n, nnz),
            "channels": int(w.shape[0]),
            "live_channels": int(live_rows.sum()),
            "inputs": int(w.shape[1]),
            "live_inputs": int(cols.sum()),
            "min_row_nonzeros": int(flat.sum(dim=1).min()),
            "dense_macs": n * pos,
            "effective_macs": nnz * pos,
            "bytes_fp32": 4 * (n + b),
            "bytes_int8_dense": n + 4 * b,
            "bytes_int8_nonzero": nnz + 4 * b,
        }
        rows.append(row)
        if nnz == 0:
            warnings.append(f"layer collapse: {name} has no non-zero weight left "
                            "(the network output no longer depends on its input)")
        elif row["live_inputs"] == 0 or int(live_rows.sum()) == 0:
            warnings.append(f"layer collapse: {name} has no live input or output channel")
        elif nnz < collapse_min:
            warnings.append(f"near collapse: {name} keeps only {nnz} weights")
        for key in ("dense_macs", "effective_macs", "bytes_fp32", "bytes_int8_dense",
                    "bytes_int8_nonzero"):
            tot[key] += row[key]
        tot["weights"] += n
        tot["nonzeros"] += nnz
        tot["bias"] += b
    if requested_global is None and requested and all(
            v is not None for v in requested.values()) and requested_unit == "weights":
        n_req = sum(r["weights"] * (requested.get(r["layer"]) or 0.0) for r in rows)
        requested_global = n_req / max(tot["weights"], 1)
    req_c = _sparsity_to_compression(requested_global)
    ach_c = _ratio(tot["weights"], tot["nonzeros"])
    total_params = sum(p.numel() for p in model.parameters())
    nonzero_params = sum(int((p != 0).sum()) for p in model.parameters())
    global_ = {
        "weights": tot["weights"],
        "nonzeros": tot["nonzeros"],
        "requested_sparsity": requested_global,
        "requested_unit": requested_unit,
        "achieved_sparsity": 1 - tot["nonzeros"] / max(tot["weights"], 1),
        "requested_compression": req_c,
        "achieved_compression": ach_c,
        # relative error of the achieved compression against the requested one
        "compression_error": (ach_c / req_c - 1) if (req_c and ach_c) else None,
        "dense_macs": tot["dense_macs"],
        "effective_macs": tot["effective_macs"],
        "bytes_fp32": tot["bytes_fp32"],
        "bytes_int8_dense": tot["bytes_int8_dense"],
        "bytes_int8_nonzero": tot["bytes_int8_nonzero"],
        "all_parameters": total_params,
        "all_parameters_nonzero": nonzero_params,
    }
    return {"layers": rows, "global": global_, "warnings": warnings,
            "note": "theoretical counts from the weights; nothing here is measured on a device"}


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if math.isinf(v):
            return "inf"
        return f"{100 * v:.2f}%" if pct else f"{v:.3g}"
    return str(v)


def report_markdown(report: Mapping[str, Any], title: str = "Pruning report",
                    extra: Mapping[str, Any] | None = None) -> str:
    g = report["global"]
    lines = [f"# {title}", ""]
    for key, value in (extra or {}).items():
        lines.append(f"- **{key}**: {value}")
    lines += [
        f"- requested sparsity ({g['requested_unit']}) {_fmt(g['requested_sparsity'], True)}, "
        f"achieved (weights) "
        f"{_fmt(g['achieved_sparsity'], True)} of {g['weights']} prunable weights "
        f"({g['nonzeros']} non-zero)",
        f"- compression requested {_fmt(g['requested_compression'])}x, achieved "
        f"{_fmt(g['achieved_compression'])}x (error {_fmt(g['compression_error'], True)})",
        f"- MACs per input: dense {g['dense_macs']}, effective {g['effective_macs']}",
        f"- parameter bytes: fp32 dense {g['bytes_fp32']}, int8 dense {g['bytes_int8_dense']}, "
        f"int8 non-zero values only {g['bytes_int8_nonzero']}",
        "",
        "| layer | shape | weights | non-zeros | requested | achieved (weights) | compression | "
        "live ch. | dense MACs | effective MACs |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["layers"]:
        lines.append(
            f"| {r['layer']} | {'x'.join(map(str, r['shape']))} | {r['weights']} | "
            f"{r['nonzeros']} | {_fmt(r['requested_sparsity'], True)} | "
            f"{_fmt(r['achieved_sparsity'], True)} | {_fmt(r['achieved_compression'])} | "
            f"{r['live_channels']}/{r['channels']} | {r['dense_macs']} | {r['effective_macs']} |"
        )
    lines += ["", "All counts are theoretical (from the weights), not measured on a device."]
    if report["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in report["warnings"]]
    return "\n".join(lines) + "\n"


def log_warnings(report: Mapping[str, Any], log: Callable[[str], None] | None) -> None:
    if log:
        for w in report["warnings"]:
            log(f"warning: {w}")
