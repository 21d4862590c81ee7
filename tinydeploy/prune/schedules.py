"""When and how often to prune: oneshot, iterative, gradual, lottery.

    oneshot      prune to the target once, then fine-tune
    iterative:K  K rounds of prune -> fine-tune; the kept fraction shrinks geometrically,
                 keep_r = keep^(r / K)
    gradual      Zhu & Gupta (2017): prune during training,
                 s_t = s_f * (1 - (1 - t / T)^3) updated every `frequency` steps over the
                 first `prune_fraction` of the steps, the rest trains at the final mask
    lottery:K    iterative magnitude pruning with rewinding (Frankle & Carbin, 2019): after
                 each prune the surviving weights are reset to the rewind state (the init, or
                 an early epoch) and the masked network is retrained

Fine-tuning is `tinydeploy.train.trainer.train`; a `MaskGuard` step callback checks after
every optimizer step that pruned weights are still exactly zero. (Gradual pruning changes
masks mid-training, while the optimizer still holds moments for newly pruned weights, so
there the callback re-zeroes them before checking.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn

from tinydeploy.errors import TinydeployError, unknown_choice
from tinydeploy.prune.criteria import Batch
from tinydeploy.prune.engine import PruneConfig, prune_model, requested_sparsity
from tinydeploy.prune.masks import MaskGuard, get_mask, prunable_layers, weight_param
from tinydeploy.train.loaders import ArrayLoader
from tinydeploy.train.trainer import TrainConfig, train

KINDS = ("oneshot", "iterative", "gradual", "lottery")


@dataclass(frozen=True)
class Schedule:
    kind: str = "oneshot"
    rounds: int = 1  # iterative / lottery rounds
    frequency: int | None = None  # gradual: steps between mask updates (None: 10 updates)
    prune_fraction: float = 0.7  # gradual: share of the steps during which sparsity grows

    @classmethod
    def parse(cls, text: str) -> Schedule:
        kind, _, arg = text.partition(":")
        if kind not in KINDS:
            raise unknown_choice("schedule", text, ["oneshot", "iterative:K", "gradual",
                                                    "lottery:K"])
        if kind in ("oneshot", "gradual"):
            if arg:
                raise TinydeployError(f"schedule {kind!r} takes no argument (got {text!r})")
            return cls(kind)
        try:
            rounds = int(arg) if arg else (5 if kind == "iterative" else 3)
        except ValueError:
            rounds = 0
        if rounds < 1:
            raise TinydeployError(f"bad schedule {text!r}: rounds must be a positive integer")
        return cls(kind, rounds)

    def __str__(self) -> str:
        return f"{self.kind}:{self.rounds}" if self.kind in ("iterative", "lottery") else self.kind


@dataclass
class PruneData:
    train_loader: ArrayLoader
    val_loader: ArrayLoader | None
    score_batch: Batch | None
    input_shape: tuple[int, int, int]


@dataclass
class ScheduleOutcome:
    requested: dict[str, float]
    rounds: list[dict[str, Any]] = field(default_factory=list)
    mask_checks: int = 0


def finetune_config(base: TrainConfig | None = None, *, epochs: int = 10, lr: float = 1e-4,
                    weight_decay: float = 1e-4, patience: int = 3, **overrides) -> TrainConfig:
    """The default fine-tuning protocol: Adam, lr 1e-4, weight decay 1e-4, constant rate,
    early stopping on the validation split (best validation epoch restored). Augmentation,
    validation split and seed come from the model's training config, so the held-out images
    are the same ones."""
    base = base or TrainConfig()
    return replace(base, epochs=epochs, optimizer="adam", lr=lr, weight_decay=weight_decay,
                   schedule="constant", patience=patience, restore_best=True, **overrides)


def scaled(cfg: PruneConfig, frac: float, *, geometric: bool = True) -> PruneConfig:
    """The config at a fraction `frac` in [0, 1] of the way to its target: geometric in the
    kept fraction (keep^frac), or linear in sparsity (s * frac)."""
    def s(x: float) -> float:
        return 1.0 - (1.0 - x) ** frac if geometric else x * frac
    return replace(cfg, sparsity=s(cfg.sparsity),
                   layer_sparsity={k: s(v) for k, v in cfg.layer_sparsity.items()})


def _zero_masked(model: nn.Module) -> None:
    with torch.no_grad():
        for layer in prunable_layers(model).values():
            for name in ("weight", "bias"):
                mask = get_mask(layer, name)
                if mask is not None:
                    weight_param(layer, name).mul_(mask)


def load_rewind(model: nn.Module, dense_state: Mapping[str, Tensor]) -> None:
    """Load an unpruned state dict (plain keys) into a masked model, keeping the masks:
    surviving weights take the rewind values, pruned ones stay zero."""
    own = model.state_dict()
    with torch.no_grad():
        for key, value in dense_state.items():
            layer_name, _, tname = key.rpartition(".")
            pkey = f"{layer_name}.parametrizations.{tname}.original"
            if pkey in own:
                layer = model.get_submodule(layer_name)
                weight_param(layer, tname).copy_(value * get_mask(layer, tname))
            elif key in own:
                own[key].copy_(value)
            else:
                raise TinydeployError(f"rewind state has unexpected key {key}")


def achieved_sparsity(model: nn.Module) -> float:
    """Fraction of zero weights over all prunable layers."""
    weights = [layer.weight.detach() for layer in prunable_layers(model).values()]
    total = sum(w.numel() for w in weights)
    return 1.0 - sum(int((w != 0).sum()) for w in weights) / max(total, 1)


def _finetune(model, data: PruneData, cfg: TrainConfig, guard, log, progress) -> dict[str, Any]:
    if cfg.epochs <= 0:
        return {"epochs": 0}
    res = train(model, data.train_loader, data.val_loader, cfg, step_callback=guard,
                progress=progress, log=log)
    return {"epochs": len(res.history), "best_epoch": res.best_epoch,
            "best_val_top1": res.best_val_acc,
            "final_val_top1": res.history[-1].val_acc if res.history else None,
            "seconds": res.seconds}


def run_schedule(
    model: nn.Module,
    cfg: PruneConfig,
    schedule: Schedule,
    data: PruneData,
    finetune: TrainConfig,
    *,
    rewind_state: Mapping[str, Tensor] | None = None,
    log: Callable[[str], None] | None = None,
    progress=None,
) -> ScheduleOutcome:
    """Prune `model` in place following `schedule`, fine-tuning with `finetune`."""
    if cfg.gran.kind == "nm" and schedule.kind != "oneshot":
        raise TinydeployError("N:M granularity supports the oneshot schedule only")
    guard = MaskGuard()
    outcome = ScheduleOutcome(requested_sparsity(model, cfg))

    def prune(c: PruneConfig) -> None:
        prune_model(model, c, data.score_batch, input_shape=data.input_shape, log=log)

    if schedule.kind == "oneshot":
        prune(cfg)
        outcome.rounds.append({"round": 1, "sparsity": cfg.sparsity,
                               "achieved_sparsity": achieved_sparsity(model),
                               **_finetune(model, data, finetune, guard, log, progress)})
    elif schedule.kind in ("iterative", "lottery"):
        if schedule.kind == "lottery" and rewind_state is None:
            raise TinydeployError("lottery schedule needs a rewind state (init or early epoch)")
        for r in range(1, schedule.rounds + 1):
            c = scaled(cfg, r / schedule.rounds)
            prune(c)
            if schedule.kind == "lottery":
                load_rewind(model, rewind_state)
            if log:
                log(f"{schedule.kind} round {r}/{schedule.rounds}: sparsity {c.sparsity:.4f}")
            outcome.rounds.append({"round": r, "sparsity": c.sparsity,
                                   "achieved_sparsity": achieved_sparsity(model),
                                   **_finetune(model, data, finetune, guard, log, progress)})
    elif schedule.kind == "gradual" and finetune.epochs <= 0:
        raise TinydeployError("the gradual schedule prunes during training: needs epochs > 0")
    elif schedule.kind == "gradual":
        total = finetune.epochs * len(data.train_loader)
        end = max(1, int(schedule.prune_fraction * total))
        freq = schedule.frequency or max(1, end // 10)
        step = 0

        def callback(m: nn.Module) -> None:
            nonlocal step
            _zero_masked(m)  # moments of weights pruned mid-training are still non-zero
            guard(m)
            step += 1
            if step % freq == 0 and step <= end:
                c = scaled(cfg, 1.0 - (1.0 - step / end) ** 3, geometric=False)
                c = replace(c, rounds=1)
                prune_model(m, c, data.score_batch, input_shape=data.input_shape)

        # s_0 = 0: registers the masks, prunes nothing
        prune(replace(scaled(cfg, 0.0, geometric=False), rounds=1))
        gradual_cfg = replace(finetune, patience=0, restore_best=False)
        info = _finetune(model, data, gradual_cfg, callback, log, progress)
        prune(replace(cfg, rounds=1))  # make sure the final target is reached
        outcome.rounds.append({"round": 1, "sparsity": cfg.sparsity, "mask_updates": end // freq,
                               "achieved_sparsity": achieved_sparsity(model),
                               **info})
    outcome.mask_checks = guard.checks
    return outcome
