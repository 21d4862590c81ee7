"""Per-layer sensitivity on the VALIDATION split: top-1 points lost when one layer alone is
pruned (no fine-tuning) to each candidate option. The test set is never read here."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping

from torch import nn

from tinydeploy.latency.allocate import option_key
from tinydeploy.prune.engine import PruneConfig, prune_model
from tinydeploy.train.evaluate import accuracy

UNSTRUCTURED = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98)
NM_PATTERNS = ("nm:2:4", "nm:1:4", "nm:2:8", "nm:1:8", "nm:1:16")


def prune_copy(model: nn.Module, layer: str, granularity: str, sparsity: float,
               method: str = "magnitude", batch=None) -> nn.Module:
    """A copy of `model` with only `layer` pruned (magnitude by default)."""
    m = copy.deepcopy(model)
    if granularity.startswith("nm"):
        cfg = PruneConfig(method=method, scope="layerwise", granularity=granularity,
                          layers=(layer,))
    else:
        cfg = PruneConfig(method=method, scope="explicit", layer_sparsity={layer: sparsity})
    if sparsity > 0 or granularity.startswith("nm"):
        prune_model(m, cfg, batch)
    return m


def layer_penalties(model: nn.Module, layers: Iterable[str], val_batches,
                    *, sparsities: Iterable[float] = UNSTRUCTURED,
                    nm_patterns: Iterable[str] = NM_PATTERNS, method: str = "magnitude",
                    batch=None, progress: Callable[[str], None] | None = None
                    ) -> dict[str, dict[str, float]]:
    """{layer: {option key: validation top-1 points lost}}; `val_batches` is a re-iterable
    of (images, labels) from the validation split."""
    base = accuracy(model, val_batches)
    out: dict[str, dict[str, float]] = {}
    for layer in layers:
        row: dict[str, float] = {}
        for s in sparsities:
            acc = base if s == 0 else accuracy(
                prune_copy(model, layer, "unstructured", s, method, batch), val_batches)
            row[option_key("unstructured", s)] = base - acc
        for pattern in nm_patterns:
            acc = accuracy(prune_copy(model, layer, pattern, 0.0, method, batch), val_batches)
            row[option_key(pattern, 0.0)] = base - acc
        out[layer] = row
        if progress:
            progress(f"validation sensitivity {layer} (top-1 change): " + ", ".join(
                f"{k} {-v:+.2f}" for k, v in row.items()))
    return out


def penalties_to_json(p: Mapping[str, Mapping[str, float]]) -> dict:
    return {layer: {k: round(v, 4) for k, v in row.items()} for layer, row in p.items()}
