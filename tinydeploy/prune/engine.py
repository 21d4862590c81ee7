"""Scores -> masks for a scope and a granularity.

Scopes: `global` (one threshold over all scored layers), `layerwise` (the same sparsity in
every layer), or explicit per-layer ratios (`layer_sparsity`, a mapping layer -> sparsity;
unlisted layers are left alone). Granularities: `unstructured`, `nm:N:M` (see `nm`), and
`channel` (whole output channels of every layer but the last; the bias entry and the next
layer's inputs reading the channel are masked too, so the masked model computes exactly what
the physically smaller one does; a depthwise conv after the layer loses the same channels,
and the masked inputs are those of the layer after it).

Pruning only ever removes weights: already pruned weights are never re-grown. A criterion with
several rounds (SynFlow: 100) is re-scored on the masked model every round while the kept
fraction follows the exponential schedule keep_r = keep^(r / rounds).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from tinydeploy.errors import TinydeployError, unknown_choice
from tinydeploy.prune import nm
from tinydeploy.prune.criteria import Batch, Criterion, get_criterion
from tinydeploy.prune.graph import chain_links, tied_layers
from tinydeploy.prune.masks import apply_masks, current_mask, prunable_layers

SCOPES = ("global", "layerwise", "explicit")


@dataclass(frozen=True)
class Granularity:
    kind: str = "unstructured"  # unstructured | nm | channel
    n: int = 0
    m: int = 0

    @classmethod
    def parse(cls, text: str) -> Granularity:
        if text in ("unstructured", "channel"):
            return cls(text)
        parts = text.split(":")
        if parts[0] == "nm" and len(parts) == 3:
            try:
                n, m = int(parts[1]), int(parts[2])
            except ValueError:
                n = m = 0
            if 0 < n <= m:
                return cls("nm", n, m)
            raise TinydeployError(f"bad N:M granularity {text!r}: need nm:N:M with 0 < N <= M")
        raise unknown_choice("granularity", text, ["unstructured", "channel", "nm:N:M"])

    def __str__(self) -> str:
        return f"nm:{self.n}:{self.m}" if self.kind == "nm" else self.kind


@dataclass(frozen=True)
class PruneConfig:
    """What to prune and how much. `sparsity` is the removed fraction of weights
    (unstructured) or of channels (channel granularity); ignored for N:M (1 - N/M)."""

    method: str = "magnitude"
    sparsity: float = 0.9
    scope: str = "global"  # global | layerwise | explicit
    layer_sparsity: Mapping[str, float] = field(default_factory=dict)  # scope "explicit"
    granularity: str = "unstructured"  # unstructured | nm:N:M | channel
    layers: tuple[str, ...] | None = None  # default: every prunable layer
    rounds: int | None = None  # scoring rounds; None = the criterion's default
    prevent_collapse: int = 0  # keep >= k weights per output row (channels per layer)
    seed: int = 0
    criterion_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.sparsity < 1.0:
            raise TinydeployError(f"sparsity must be in [0, 1), got {self.sparsity}")
        if self.scope not in SCOPES:
            raise unknown_choice("scope", self.scope, SCOPES)
        if self.scope == "explicit" and not self.layer_sparsity:
            raise TinydeployError("scope 'explicit' needs per-layer sparsities")
        for name, s in self.layer_sparsity.items():
            if not 0.0 <= float(s) < 1.0:
                raise TinydeployError(f"sparsity of layer {name} must be in [0, 1), got {s}")
        if self.rounds is not None and self.rounds < 1:
            raise TinydeployError(f"rounds must be >= 1, got {self.rounds}")
        if self.prevent_collapse < 0:
            raise TinydeployError("prevent_collapse must be >= 0")
        Granularity.parse(self.granularity)

    @property
    def gran(self) -> Granularity:
        return Granularity.parse(self.granularity)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["layer_sparsity"] = dict(self.layer_sparsity)
        d["criterion_kwargs"] = dict(self.criterion_kwargs)
        d["layers"] = list(self.layers) if self.layers is not None else None
        return d


def compression_to_sparsity(compression: float) -> float:
    """Compression ratio r = n / n_nonzero -> sparsity 1 - 1/r."""
    if compression < 1:
        raise TinydeployError(f"compression must be >= 1, got {compression}")
    return 1.0 - 1.0 / compression


def target_layers(model: nn.Module, cfg: PruneConfig) -> dict[str, nn.Module]:
    """The layers to score and prune (channel granularity never prunes the last layer's
    outputs: they are the model's outputs)."""
    layers = prunable_layers(model)
    if not layers:
        raise TinydeployError("the model has no Conv2d or Linear layer to prune")
    names = list(layers)
    if cfg.gran.kind == "channel":
        names = names[:-1]
        # depthwise layers lose the channels their producer loses; they are not scored
        tied = tied_layers(chain_links(model))
        for n in cfg.layers or ():
            if n in tied:
                raise TinydeployError(
                    f"{n} is a depthwise conv: its channels are those of {tied[n]}; channel-"
                    f"prune {tied[n]} instead")
        names = [n for n in names if n not in tied]
    if cfg.scope == "explicit":
        unknown = [n for n in cfg.layer_sparsity if n not in layers]
        if unknown:
            raise unknown_choice("layer", unknown[0], list(layers))
        names = [n for n in names if n in cfg.layer_sparsity]
    if cfg.layers is not None:
        for n in cfg.layers:
            if n not in layers:
                raise unknown_choice("layer", n, list(layers))
        names = [n for n in names if n in cfg.layers]
    return {n: layers[n] for n in names}


def requested_sparsity(model: nn.Module, cfg: PruneConfig) -> dict[str, float | None]:
    """Per-layer requested sparsity of the pruned layers: None under the global scope (only
    the global total is requested there). In channels for channel granularity."""
    layers = target_layers(model, cfg)
    g = cfg.gran
    if g.kind == "nm":
        return dict.fromkeys(layers, 1.0 - g.n / g.m)
    if cfg.scope == "explicit":
        return {n: float(cfg.layer_sparsity[n]) for n in layers}
    if cfg.scope == "global":
        return dict.fromkeys(layers)
    return dict.fromkeys(layers, cfg.sparsity)


def _keep_top(scores: Tensor, k: int) -> Tensor:
    """0/1 mask keeping the k highest finite scores (flat)."""
    mask = torch.zeros(scores.numel())
    if k > 0:
        mask[scores.reshape(-1).topk(k).indices] = 1.0
    return mask


def _select(scores: dict[str, Tensor], keep: Mapping[str, float] | float,
            alive: dict[str, Tensor]) -> dict[str, Tensor]:
    """Masks keeping a fraction of the entries; `keep` is global (float) or per layer.
    Already pruned entries (alive == 0) are never kept."""
    masked = {n: s.double().masked_fill(alive[n] == 0, float("-inf")) for n, s in scores.items()}
    if isinstance(keep, float):
        flat = torch.cat([s.reshape(-1) for s in masked.values()])
        total = sum(s.numel() for s in masked.values())
        n_alive = int(sum(int(a.sum()) for a in alive.values()))
        k = min(round(keep * total), n_alive)
        mask = _keep_top(flat, k)
        out, start = {}, 0
        for n, s in masked.items():
            out[n] = mask[start : start + s.numel()].reshape(s.shape)
            start += s.numel()
        return out
    out = {}
    for n, s in masked.items():
        k = min(round(keep[n] * s.numel()), int(alive[n].sum()))
        out[n] = _keep_top(s, k).reshape(s.shape)
    return out


def _protect_rows(mask: Tensor, scores: Tensor, alive: Tensor, k: int) -> Tensor:
    """Also keep the k best alive entries of every output row (collapse prevention)."""
    rows = scores.double().reshape(scores.shape[0], -1).masked_fill(
        alive.reshape(alive.shape[0], -1) == 0, float("-inf"))
    top = rows.topk(min(k, rows.shape[1]), dim=1)
    extra = torch.zeros_like(rows).scatter_(1, top.indices, torch.isfinite(top.values).double())
    return torch.maximum(mask, extra.reshape(mask.shape).to(mask.dtype))


def _channel_scores(criterion: Criterion, model, layers, batch) -> dict[str, Tensor]:
    raw = criterion.scores(model, layers, batch)
    if criterion.structured:
        return raw
    # a weight criterion used for channels: sum of the filter's weight scores
    return {n: s.reshape(s.shape[0], -1).sum(dim=1) for n, s in raw.items()}


def _channel_masks(model: nn.Module, keep_rows: dict[str, Tensor]) -> tuple[
        dict[str, Tensor], dict[str, Tensor]]:
    """Row masks per layer -> (weight masks incl. the consumers' input columns, bias masks)."""
    layers = prunable_layers(model)
    links = chain_links(model)
    keep_rows = dict(keep_rows)
    for link in links:  # chain order: a depthwise layer takes its producer's rows
        if link.depthwise and link.producer in keep_rows:
            keep_rows[link.consumer] = keep_rows[link.producer]
    weight = {n: current_mask(layers[n]).clone() for n in layers}
    touched = set(keep_rows)
    for n, rows in keep_rows.items():
        shape = (-1,) + (1,) * (weight[n].dim() - 1)
        weight[n] *= rows.reshape(shape)
    for link in links:
        if link.producer not in keep_rows or link.depthwise:
            continue
        cols = keep_rows[link.producer].repeat_interleave(link.group)
        w = weight[link.consumer]
        shape = (1, -1) + (1,) * (w.dim() - 2)
        weight[link.consumer] = w * cols.reshape(shape)
        touched.add(link.consumer)
    bias = {n: current_mask(layers[n], "bias") * rows for n, rows in keep_rows.items()
            if layers[n].bias is not None}
    return {n: weight[n] for n in touched}, bias


def prune_model(
    model: nn.Module,
    cfg: PruneConfig,
    batch: Batch | None = None,
    *,
    input_shape: tuple[int, ...] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, float | None]:
    """Score, select and apply masks in place; returns the requested sparsity per layer
    (None under the global scope).

    `batch` is needed by data-driven criteria; data-free ones only use its shape (or
    `input_shape`).
    """
    kwargs = {"seed": cfg.seed, **cfg.criterion_kwargs}
    if cfg.method == "synflow" and input_shape is not None:
        kwargs.setdefault("input_shape", tuple(input_shape))
    criterion = get_criterion(cfg.method, **kwargs)
    g = cfg.gran
    if criterion.structured and g.kind != "channel":
        raise TinydeployError(
            f"method {cfg.method!r} scores channels; use it with --granularity channel")
    if criterion.needs_data and (batch is None or (criterion.needs_labels and batch.y is None)):
        raise TinydeployError(f"method {cfg.method!r} needs a data batch to score")
    layers = target_layers(model, cfg)
    requested = requested_sparsity(model, cfg)
    if g.kind == "nm":
        scores = criterion.scores(model, layers, batch)
        masks = {n: nm.nm_mask(scores[n], g.n, g.m, current_mask(layer))
                 for n, layer in layers.items()}
        apply_masks(model, masks)
        return requested
    rounds = cfg.rounds or criterion.default_rounds
    for r in range(1, rounds + 1):
        frac = r / rounds
        keep: float | dict[str, float]
        if cfg.scope == "global":
            keep = (1.0 - cfg.sparsity) ** frac
        else:
            keep = {n: (1.0 - float(requested[n] or 0.0)) ** frac for n in layers}
        if g.kind == "channel":
            scores = _channel_scores(criterion, model, layers, batch)
            alive = {n: (current_mask(layer).reshape(layer.weight.shape[0], -1).sum(1) > 0)
                     .float() for n, layer in layers.items()}
            rows = _select(scores, keep, alive)
            if cfg.prevent_collapse:
                for n in rows:
                    k = min(cfg.prevent_collapse, len(rows[n]))
                    if rows[n].sum() < k:
                        rows[n] = _keep_top(scores[n].double().masked_fill(
                            alive[n] == 0, float("-inf")), k)
            wmasks, bmasks = _channel_masks(model, rows)
            apply_masks(model, wmasks, bmasks)
        else:
            scores = criterion.scores(model, layers, batch)
            alive = {n: current_mask(layer) for n, layer in layers.items()}
            masks = _select(scores, keep, alive)
            if cfg.prevent_collapse:
                masks = {n: _protect_rows(m, scores[n], alive[n], cfg.prevent_collapse)
                         for n, m in masks.items()}
            apply_masks(model, masks)
        if log and rounds > 1 and (r == rounds or r % max(1, rounds // 4) == 0):
            log(f"{cfg.method}: round {r}/{rounds}")
    return requested
