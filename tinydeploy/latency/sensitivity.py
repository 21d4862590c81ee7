"""Per-layer sensitivity on the VALIDATION split: how much worse the model gets when one
layer alone is pruned (no fine-tuning) to each candidate option. The test set is never read.

The penalty of an option is the second-order estimate of the validation loss increase,
1/2 * sum over the weights it removes of F_ii * w_i^2, with F the empirical Fisher diagonal
on the validation split (Optimal Brain Damage's saliency with the Fisher as Hessian, as
latency-aware methods such as HALP rank their options). It is additive across weights and
layers and keeps growing with the damage, where the measured top-1 drop and even the
measured loss saturate once a layer is destroyed (so destroying one layer would look as
cheap as damaging two). The measured top-1 drop and loss increase of each option are
reported beside it.

`penalty="magnitude"` scores an option by the squared magnitude it removes instead (the
Fisher taken as 1): the quantity global magnitude pruning keeps smallest for a weight count,
here kept smallest for an instruction budget."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping

import torch
from torch import nn
from torch.nn import functional as F

from tinydeploy.latency.allocate import option_key
from tinydeploy.prune.engine import PruneConfig, prune_model

UNSTRUCTURED = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98)
PENALTIES = ("fisher", "magnitude")
NM_PATTERNS = ("nm:2:4", "nm:1:4", "nm:2:8", "nm:1:8", "nm:1:16")


def prune_copy(model: nn.Module, layer: str, granularity: str, sparsity: float,
               method: str = "magnitude", batch=None) -> nn.Module:
    """A copy of `model` with only `layer` pruned (magnitude by default)."""
    m = copy.deepcopy(model)
    if granularity.startswith("nm"):
        cfg = PruneConfig(method=method, scope="layerwise", granularity=granularity,
                          layers=(layer,))
    elif granularity == "channel":  # the next layer's inputs reading the channels go too
        cfg = PruneConfig(method=method, scope="layerwise", granularity=granularity,
                          sparsity=sparsity, layers=(layer,))
    else:
        cfg = PruneConfig(method=method, scope="explicit", layer_sparsity={layer: sparsity})
    if sparsity > 0 or granularity.startswith("nm"):
        prune_model(m, cfg, batch)
    return m


def fisher_diagonal(model: nn.Module, layers: Iterable[str], batches, chunk: int = 100
                    ) -> dict[str, torch.Tensor]:
    """Empirical Fisher diagonal of each layer's weight: chunk * E[(d mean-loss / dw)^2]
    over validation chunks of `chunk` images (~ E over images of the per-image gradient^2)."""
    mods = dict(model.named_modules())
    params = {name: mods[name].weight for name in layers}
    fisher = {name: torch.zeros_like(w) for name, w in params.items()}
    model.eval()
    count = 0
    for x, y in batches:
        for i in range(0, len(y), chunk):
            loss = F.cross_entropy(model(x[i:i + chunk]), y[i:i + chunk])
            grads = torch.autograd.grad(loss, list(params.values()))
            for name, g in zip(params, grads, strict=True):
                fisher[name] += g.detach() ** 2 * len(y[i:i + chunk])
            count += 1
    return {name: f / max(count, 1) for name, f in fisher.items()}


def _removed_saliency(model: nn.Module, pruned: nn.Module,
                      fisher: Mapping[str, torch.Tensor]) -> float:
    """1/2 sum F w^2 over the weights pruning removed, in every layer (channel removal also
    takes the next layer's inputs)."""
    before, after = dict(model.named_modules()), dict(pruned.named_modules())
    total = 0.0
    for layer, f in fisher.items():
        w = before[layer].weight.detach()
        removed = (w != 0) & (after[layer].weight.detach() == 0)
        total += float(0.5 * (f * w ** 2)[removed].sum())
    return total


def evaluate(model: nn.Module, batches) -> tuple[float, float]:
    """(top-1 %, mean cross-entropy) over (images, labels) batches."""
    model.eval()
    correct = total = 0
    loss = 0.0
    with torch.no_grad():
        for x, y in batches:
            logits = model(x)
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
            total += len(y)
    return 100.0 * correct / max(total, 1), loss / max(total, 1)


def layer_penalties(model: nn.Module, layers: Iterable[str], val_batches,
                    *, sparsities: Iterable[float] = UNSTRUCTURED,
                    nm_patterns: Iterable[str] = NM_PATTERNS, method: str = "magnitude",
                    penalty: str = "fisher", batch=None,
                    channels: Mapping[str, Iterable[float]] | None = None,
                    progress: Callable[[str], None] | None = None
                    ) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """({layer: {option key: estimated validation loss increase (the penalty)}},
    {layer: {option key: measured validation top-1 points lost}}); `val_batches` is a
    re-iterable of (images, labels) from the validation split; `channels`: {layer: channel
    sparsities} scored as channel removal too."""
    layers = list(layers)
    if penalty not in PENALTIES:
        from tinydeploy.errors import unknown_choice

        raise unknown_choice("latency penalty", penalty, PENALTIES)
    if penalty == "fisher":
        fisher = fisher_diagonal(model, layers, val_batches)
    else:
        mods = dict(model.named_modules())
        fisher = {name: torch.ones_like(mods[name].weight) for name in layers}
    base_acc, _ = evaluate(model, val_batches)
    penalties: dict[str, dict[str, float]] = {}
    drops: dict[str, dict[str, float]] = {}
    options = [("unstructured", s) for s in sorted(sparsities)] + [(p, 0.0)
                                                                   for p in nm_patterns]
    for layer in layers:
        pen: dict[str, float] = {}
        drop: dict[str, float] = {}
        extra = [("channel", s) for s in sorted((channels or {}).get(layer, ()))]
        for granularity, s in options + extra:
            key = option_key(granularity, s)
            if granularity == "unstructured" and s == 0:
                pen[key], drop[key] = 0.0, 0.0
                continue
            pruned = prune_copy(model, layer, granularity, s, method, batch)
            pen[key] = _removed_saliency(model, pruned, fisher)
            drop[key] = base_acc - evaluate(pruned, val_batches)[0]
        penalties[layer], drops[layer] = pen, drop
        if progress:
            progress(f"validation sensitivity {layer} (estimated loss increase / measured "
                     "top-1 change): " + ", ".join(f"{k} {pen[k]:.4f}/{-drop[k]:+.2f}"
                                                   for k in pen))
    return penalties, drops


def penalties_to_json(p: Mapping[str, Mapping[str, float]]) -> dict:
    return {layer: {k: round(v, 4) for k, v in row.items()} for layer, row in p.items()}
