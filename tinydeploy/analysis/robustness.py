"""Adversarial robustness of pruned variants (white-box, L-inf, inputs in [0, 1]).

- FGSM (Goodfellow et al., 2015): x' = clip(x + eps * sign(grad_x CE(f(x), y)), 0, 1).
- PGD (Madry et al., 2018): `steps` steps of size alpha (default 2.5 eps / steps) from a
  uniform random start in the eps-ball (seeded), each followed by projection onto the eps-ball
  around x and onto [0, 1].
Robust accuracy is the top-1 accuracy on the attacked test images (the attack uses the true
labels): final numbers, nothing is selected from them (`Context.test`, first `test_limit`
images). Each variant is the checkpoint pruned as a whole to sparsity s (criterion and scope
as in the cliff locator), optionally fine-tuned (early stopping on the validation split, as
everywhere); s = 0 is the dense baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from tinydeploy.analysis import cliff as cliff_mod
from tinydeploy.analysis.context import (
    Context,
    context_from,
    finetune,
    finetune_cfg,
    prune_in_place,
    run_points,
    uniform_config,
)
from tinydeploy.analysis.report import figure, images_text, md_table, pct, png, provenance
from tinydeploy.errors import TinydeployError, unknown_choice

KIND = "robustness"
PLOTS = ("robustness",)
ATTACKS = ("fgsm", "pgd")
ATTACK_BATCH = 500


def _input_grad(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        loss = nn.functional.cross_entropy(model(x), y)
        (grad,) = torch.autograd.grad(loss, x)
    return grad


def fgsm(model: nn.Module, x: Tensor, y: Tensor, eps: float) -> Tensor:
    if eps == 0:
        return x.clone()
    return (x + eps * _input_grad(model, x, y).sign()).clamp(0.0, 1.0).detach()


def pgd(model: nn.Module, x: Tensor, y: Tensor, eps: float, steps: int = 10,
        alpha: float | None = None, random_start: bool = True, seed: int = 0) -> Tensor:
    if eps == 0:
        return x.clone()
    alpha = 2.5 * eps / steps if alpha is None else alpha
    adv = x.clone()
    if random_start:
        gen = torch.Generator().manual_seed(seed)
        adv = (adv + (torch.rand(x.shape, generator=gen) * 2 - 1) * eps).clamp(0.0, 1.0)
    for _ in range(steps):
        adv = adv + alpha * _input_grad(model, adv, y).sign()
        adv = torch.min(torch.max(adv, x - eps), x + eps).clamp(0.0, 1.0).detach()
    return adv


def robust_accuracy(model: nn.Module, x: Tensor, y: Tensor, attack: str, eps: float,
                    steps: int = 10, seed: int = 0) -> float:
    """Top-1 accuracy (%) under the attack."""
    if attack not in ATTACKS:
        raise unknown_choice("attack", attack, ATTACKS)
    if eps < 0:
        raise TinydeployError(f"epsilon must be >= 0, got {eps}")
    model.eval()
    hits = 0
    for i in range(0, len(y), ATTACK_BATCH):
        xb, yb = x[i : i + ATTACK_BATCH], y[i : i + ATTACK_BATCH]
        adv = fgsm(model, xb, yb, eps) if attack == "fgsm" else pgd(
            model, xb, yb, eps, steps, seed=seed + i)
        with torch.no_grad():
            hits += int((model(adv).argmax(1) == yb).sum())
    return 100.0 * hits / max(len(y), 1)


def robust_point(params: dict[str, Any]) -> dict[str, Any]:
    """Trial: one pruned variant under every attack and epsilon, on the test images."""
    ctx = context_from(params)
    model = _variant(ctx, params)
    seed = int(params.get("seed", 0))
    test = ctx.test
    out: dict[str, Any] = {"clean": robust_accuracy(model, test.x, test.y, "fgsm", 0.0)}
    for attack in params["attacks"]:
        out[attack] = {str(e): robust_accuracy(model, test.x, test.y, attack, float(e),
                                               int(params.get("pgd_steps", 10)), seed)
                       for e in params["eps"]}
    return out


def _variant(ctx: Context, params: dict[str, Any]) -> nn.Module:
    model = ctx.copy_model()
    s = float(params["sparsity"])
    seed = int(params.get("seed", 0))
    if s > 0:
        prune_in_place(model, ctx, uniform_config(params.get("method", "magnitude"), s,
                                                  params.get("scope", "global"), seed))
        epochs = int(params.get("finetune_epochs", 0))
        if epochs:
            finetune(model, ctx, finetune_cfg(ctx, epochs, float(params["finetune_lr"]),
                                              params.get("train_limit"), seed))
    return model


def run(
    ctx: Context,
    *,
    sweep_dir: str | Path,
    sparsities: Sequence[float] = (0.0, 0.5, 0.8, 0.9),
    eps: Sequence[float] = (0.05, 0.1, 0.2),
    attacks: Sequence[str] = ATTACKS,
    pgd_steps: int = 10,
    method: str = "magnitude",
    scope: str = "global",
    finetune_epochs: int = 0,
    finetune_lr: float = 1e-4,
    train_limit: int | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Attack every variant on the context's test images (its first `test_limit`; final
    numbers only)."""
    for a in attacks:
        if a not in ATTACKS:
            raise unknown_choice("attack", a, ATTACKS)
    if any(e < 0 for e in eps) or pgd_steps < 1:
        raise TinydeployError("epsilons must be >= 0 and --pgd-steps >= 1")
    sparsities = sorted({0.0, *sparsities})
    base = cliff_mod.point_params(ctx, method=method, scope=scope,
                                  finetune_epochs=finetune_epochs, finetune_lr=finetune_lr,
                                  train_limit=train_limit, seed=seed, data_dir=data_dir,
                                  eval_limit=None, test_limit=ctx.test_limit)
    base.update(attacks=list(attacks), eps=[float(e) for e in eps], pgd_steps=pgd_steps)
    results = run_points("tinydeploy.analysis.robustness:robust_point",
                         [{**base, "sparsity": s} for s in sparsities], sweep_dir,
                         show_progress=show_progress, description="robustness")
    prov = provenance(ctx, selection=False, test=True, evaluation_split="test",
                      early_stopping_split="validation" if finetune_epochs else None)
    return {"kind": KIND, "provenance": prov,
            "config": {"method": method, "scope": scope, "attacks": list(attacks),
                       "eps": [float(e) for e in eps], "pgd_steps": pgd_steps,
                       "pgd_alpha": "2.5 * eps / steps", "pgd_random_start": True,
                       "finetune_epochs": finetune_epochs, "seed": seed},
            "variants": [{"sparsity": s, **r} for s, r in zip(sparsities, results, strict=True)]}


def plots(data: dict[str, Any]) -> dict[str, bytes]:
    plt = figure()
    attacks = data["config"]["attacks"]
    fig, axes = plt.subplots(1, len(attacks), figsize=(5.5 * len(attacks), 4), squeeze=False)
    for ax, attack in zip(axes[0], attacks, strict=True):
        for v in data["variants"]:
            eps = [0.0, *data["config"]["eps"]]
            accs = [v["clean"], *(v[attack][str(e)] for e in data["config"]["eps"])]
            ax.plot(eps, accs, "o-", label=f"sparsity {pct(v['sparsity'], 0)}")
        ax.set_xlabel("epsilon (L-inf, inputs in [0, 1])")
        ax.set_ylabel("top-1 under attack (%)")
        ax.set_title(attack.upper())
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return {"robustness": png(fig)}


def markdown(data: dict[str, Any]) -> str:
    cfg = data["config"]
    header = ["sparsity", "clean"] + [f"{a.upper()} eps={e:g}" for a in cfg["attacks"]
                                      for e in cfg["eps"]]
    rows = [[pct(v["sparsity"], 0), v["clean"],
             *(v[a][str(e)] for a in cfg["attacks"] for e in cfg["eps"])]
            for v in data["variants"]]
    return "\n\n".join([
        "# Adversarial robustness of pruned variants",
        f"`{cfg['method']}` `{cfg['scope']}` pruning, fine-tune epochs {cfg['finetune_epochs']};"
        f" PGD {cfg['pgd_steps']} steps, alpha {cfg['pgd_alpha']}, random start; "
        f"{images_text(data['provenance'])}. Test top-1 % under attack:",
        md_table(header, rows),
        f"Plot: `{KIND}_robustness.png`.",
    ]) + "\n"
