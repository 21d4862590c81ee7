"""Channel removal as a latency option: a layer keeps fewer output channels (and stays dense),
so the next layer has fewer inputs too and both get cheaper.

For each channel sparsity offered (fraction of output channels removed), every layer but the
last gets an option keeping round((1 - s) * out_c) channels, the ones channel pruning keeps.
Its cost depends on what the layer before it kept, and the next layer's cost on what it
keeps, so the cost table gets rows for the resized shapes ("variants" of a layer, named
`conv~in4~out12`): the layer with fewer output channels (dense only) for every input count
the layer before can leave, and the layer with fewer inputs (dense and the unstructured
formats). They are measured like any point, from slices of the real layer's int8 parameters.
N:M is not offered after a removal: dropping input columns would break its groups.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from torch import nn

from tinydeploy.errors import TinydeployError
from tinydeploy.latency.allocate import LayerOption, layer_options, option_key
from tinydeploy.latency.shapes import LayerShape
from tinydeploy.latency.table import CostTable

CHANNEL = "channel"


def variant(op: str, inputs: int = 0, outputs: int = 0) -> str:
    """The cost-table row of `op` resized to `inputs` input / `outputs` output channels
    (0: as in the model)."""
    return op + (f"~in{inputs}" if inputs else "") + (f"~out{outputs}" if outputs else "")


def kept_channels(out_c: int, sparsity: float) -> int:
    """Output channels channel pruning keeps at `sparsity` (the engine's rounding)."""
    return round((1.0 - sparsity) * out_c)


@dataclass(frozen=True)
class ChannelPlan:
    """Which channel counts each weighted op may keep, in execution order.
    kept: op -> [(channel sparsity, channels kept)]; previous: op -> the op before it;
    group: op -> its inputs per channel of the op before (a flatten after a conv: H*W)."""

    ops: tuple[str, ...]
    kept: dict[str, list[tuple[float, int]]]
    previous: dict[str, str]
    group: dict[str, int]

    def inputs_of(self, op: str) -> list[int]:
        """The input channel counts `op` can see: 0 (all) and what the op before may keep."""
        prev = self.previous.get(op)
        return [0, *(b for _, b in self.kept.get(prev, []))] if prev else [0]

    def rows(self) -> tuple[dict[str, tuple[str, int, int]], dict[str, tuple[str, int, int]]]:
        """The resized rows the table needs, {variant: (op, inputs, outputs)}: those measured
        in the unstructured formats (fewer inputs, all outputs) and those measured dense
        (fewer outputs)."""
        sparse, dense = {}, {}
        for op in self.ops:
            for a in self.inputs_of(op):
                if a:
                    sparse[variant(op, a)] = (op, a, 0)
                for _, b in self.kept.get(op, []):
                    dense[variant(op, a, b)] = (op, a, b)
        return sparse, dense

    def resized(self, shapes: Mapping[str, LayerShape], op: str, inputs: int,
                outputs: int) -> LayerShape:
        shape = shapes[op]
        if inputs and shape.op == "fc":
            in_shape: tuple[int, ...] = (inputs * self.group[op],)
        elif inputs:
            in_shape = (*shape.in_shape[:2], inputs)
        else:
            in_shape = shape.in_shape
        return dataclasses.replace(shape, in_shape=in_shape, out_c=outputs or shape.out_c)

    def sliced_params(self, params: Mapping[str, Mapping[str, np.ndarray]],
                      shapes: Mapping[str, LayerShape], op: str, inputs: int,
                      outputs: int) -> dict[str, np.ndarray]:
        """`op`'s int8 parameters cut to the variant: the first `outputs` rows and, per
        input position, the first `inputs` channels (the cost depends on the shape and the
        weights' sparsity pattern, not on which channels are kept)."""
        p = dict(params[op])
        w = np.asarray(p["weights"])
        if inputs:
            n_prev = shapes[self.previous[op]].out_c
            w = w.reshape(w.shape[0], -1, n_prev)[:, :, :inputs].reshape(w.shape[0], -1)
        if outputs:
            w = w[:outputs]
            for key in ("bias", "multiplier", "shift"):
                p[key] = np.ascontiguousarray(np.asarray(p[key])[:outputs])
        p["weights"] = np.ascontiguousarray(w)
        return p


def check_channel_sparsities(sparsities: Sequence[float]) -> None:
    bad = [s for s in sparsities if not 0.0 < s < 1.0]
    if bad:
        raise TinydeployError(f"channel sparsities (fractions of a layer's output channels "
                              f"removed) must be in (0, 1), got {bad[0]}")


def channel_plan(model: nn.Module, mapping: Mapping[str, str],
                 shapes: Mapping[str, LayerShape], sparsities: Sequence[float]) -> ChannelPlan:
    """The channel counts every layer but the last may keep at `sparsities`; `mapping`:
    PyTorch layer -> weighted op, in execution order."""
    from tinydeploy.prune.graph import chain_links

    check_channel_sparsities(sparsities)
    links = chain_links(model)
    if any(link.depthwise for link in links):
        raise TinydeployError("channel options do not cover depthwise layers yet")
    ops = tuple(mapping[t] for t in mapping)
    kept: dict[str, list[tuple[float, int]]] = {}
    for op in ops[:-1]:
        counts: dict[int, float] = {}
        for s in sorted(sparsities):
            b = kept_channels(shapes[op].out_c, s)
            if 1 <= b < shapes[op].out_c:
                counts.setdefault(b, s)
        kept[op] = sorted(((s, b) for b, s in counts.items()), reverse=True)
    previous = {mapping[link.consumer]: mapping[link.producer] for link in links}
    group = {mapping[link.consumer]: link.group for link in links}
    return ChannelPlan(ops, {op: k for op, k in kept.items() if k}, previous, group)


def channel_options(plan: ChannelPlan, table: CostTable, mapping: Mapping[str, str],
                    penalties: Mapping[str, Mapping[str, float]],
                    allowed: Sequence[str] | None = None) -> dict[str, list[LayerOption]]:
    """{PyTorch layer: the options channel removal adds}: after fewer inputs, the layer's
    unstructured options on its resized row; with fewer outputs, dense at each input count."""
    if allowed is not None and "dense" not in allowed:
        raise TinydeployError("channel options run dense: allow the dense format")
    out: dict[str, list[LayerOption]] = {}
    for t, op in mapping.items():
        opts = []
        for a in plan.inputs_of(op):
            if a:
                opts += layer_options(variant(op, a), table, penalties[t], allowed, inputs=a)
            for s, b in plan.kept.get(op, []):
                row = variant(op, a, b)
                wbytes = (table.predict_weight_bytes(row, "dense")
                          if (row, "dense") in table.weight_bytes else None)
                opts.append(LayerOption(
                    CHANNEL, s, "dense", table.predict(row, "dense"),
                    float(penalties[t][option_key(CHANNEL, s)]), wbytes,
                    tuple(sorted(table.kernel_text.get((row, "dense"), {}).items())),
                    inputs=a, outputs=b))
        out[t] = opts
    return out


def whole_layer_sparsity(sparsity: float, inputs: int, all_inputs: int) -> float:
    """The sparsity over a layer's whole (masked) weight tensor that leaves `sparsity` of
    the columns still read once its inputs shrink from `all_inputs` to `inputs` channels
    (the masked columns count as pruned)."""
    if not inputs:
        return sparsity
    return 1.0 - (1.0 - sparsity) * inputs / all_inputs
