"""When and how often to prune: oneshot, iterative, gradual, lottery.

    oneshot      prune to the target once, then fine-tune
    iterative:K  K rounds of prune -> fine-tune; the kept fraction shrinks geometrically,
                 keep_r = keep^(r / K)
    gradual[:K]  Zhu & Gupta (2017), AGP: prune during training in K mask updates (default
                 10) evenly spaced over the first `prune_fraction` of the steps,
                 s_i = s_f * (1 - (1 - i / K)^3); the last update reaches s_f and the rest
                 of the steps train at the final mask
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
from tinydeploy.prune.masks import (
    MaskGuard,
    check_masks,
    get_mask,
    prunable_layers,
    weight_param,
)
from tinydeploy.train.loaders import ArrayLoader
from tinydeploy.train.trainer import Objective, TrainConfig, train

KINDS = ("oneshot", "iterative", "gradual", "lottery")
CALIBRATION_IMAGES = 500  # the int8 export calibrates on the first 500 training images
QAT_RECALIBRATE_STEPS = 50  # QAT re-measures the export's activation ranges this often
DEFAULT_ROUNDS = {"iterative": 5, "lottery": 3, "gradual": 10}


@dataclass(frozen=True)
class Schedule:
    kind: str = "oneshot"
    rounds: int = 1  # iterative / lottery rounds; gradual: mask updates
    prune_fraction: float = 0.7  # gradual: share of the steps during which sparsity grows

    @classmethod
    def parse(cls, text: str) -> Schedule:
        kind, _, arg = text.partition(":")
        if kind not in KINDS:
            raise unknown_choice("schedule", text, ["oneshot", "iterative:K", "gradual[:K]",
                                                    "lottery:K"])
        if kind == "oneshot":
            if arg:
                raise TinydeployError(f"schedule {kind!r} takes no argument (got {text!r})")
            return cls(kind)
        try:
            rounds = int(arg) if arg else DEFAULT_ROUNDS[kind]
        except ValueError:
            rounds = 0
        if rounds < 1:
            raise TinydeployError(f"bad schedule {text!r}: rounds must be a positive integer")
        return cls(kind, rounds)

    def __post_init__(self) -> None:
        if self.kind == "gradual" and self.rounds == 1:  # Schedule("gradual"): the default
            object.__setattr__(self, "rounds", DEFAULT_ROUNDS["gradual"])

    def __str__(self) -> str:
        if self.kind == "oneshot" or (self.kind == "gradual"
                                      and self.rounds == DEFAULT_ROUNDS["gradual"]):
            return self.kind
        return f"{self.kind}:{self.rounds}"


@dataclass
class PruneData:
    train_loader: ArrayLoader
    val_loader: ArrayLoader | None
    score_batch: Batch | None
    input_shape: tuple[int, int, int]
    # the images the int8 export calibrates on (uint8); None: the first 500 training ones
    calibration_images: Tensor | None = None


@dataclass
class ScheduleOutcome:
    requested: dict[str, float]
    rounds: list[dict[str, Any]] = field(default_factory=list)
    mask_checks: int = 0


def agp_fraction(t: float) -> float:
    """Share of the final sparsity reached at fraction `t` (0..1) of an AGP ramp (Zhu & Gupta
    2017): 1 - (1 - t)^3, fast at first, flat at the end."""
    return 1.0 - (1.0 - t) ** 3


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


def _finetune(model, data: PruneData, cfg: TrainConfig, guard, log, progress,
              objective: Objective | None = None) -> dict[str, Any]:
    if cfg.epochs <= 0:
        return {"epochs": 0}
    res = train(model, data.train_loader, data.val_loader, cfg, step_callback=guard,
                objective=objective, progress=progress, log=log)
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
    objective: Objective | None = None,
    mask_learning: str = "fixed",
    srste_decay: float = 2e-4,
    nm_ramp: bool = False,
    log: Callable[[str], None] | None = None,
    progress=None,
) -> ScheduleOutcome:
    """Prune `model` in place following `schedule`, fine-tuning with `finetune` (and the
    training `objective`, default cross-entropy). N:M granularity with
    `mask_learning="srste"` learns the mask during the fine-tuning instead
    (`tinydeploy.prune.srste`; the schedule is then its own AGP ramp, for N:M only with
    `nm_ramp`)."""
    if cfg.gran.kind == "nm" and schedule.kind != "oneshot" and mask_learning != "srste":
        raise TinydeployError("N:M granularity supports the oneshot schedule only (or "
                              "mask learning: srste)")
    if nm_ramp and (cfg.gran.kind != "nm" or mask_learning != "srste"):
        raise TinydeployError("the N:M ramp (nm_ramp) needs N:M granularity with mask "
                              "learning srste")
    guard = MaskGuard()
    outcome = ScheduleOutcome(requested_sparsity(model, cfg))

    def prune(c: PruneConfig) -> None:
        prune_model(model, c, data.score_batch, input_shape=data.input_shape, log=log)

    def finetune_round(cfg_t: TrainConfig, callback=guard) -> dict[str, Any]:
        return _finetune(model, data, cfg_t, callback, log, progress, objective)

    if mask_learning == "srste":
        from tinydeploy.prune.srste import srste_train

        info = srste_train(model, cfg, data, finetune, decay=srste_decay,
                           prune_fraction=schedule.prune_fraction, nm_ramp=nm_ramp,
                           objective=objective,
                           log=log, progress=progress)
        outcome.rounds.append({"round": 1, "sparsity": cfg.sparsity, "mask_learning": "srste",
                               "achieved_sparsity": achieved_sparsity(model), **info})
    elif schedule.kind == "oneshot":
        prune(cfg)
        outcome.rounds.append({"round": 1, "sparsity": cfg.sparsity,
                               "achieved_sparsity": achieved_sparsity(model),
                               **finetune_round(finetune)})
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
                                   **finetune_round(finetune)})
    elif schedule.kind == "gradual" and finetune.epochs <= 0:
        raise TinydeployError("the gradual schedule prunes during training: needs epochs > 0")
    elif schedule.kind == "gradual":
        total = finetune.epochs * len(data.train_loader)
        end = max(1, int(schedule.prune_fraction * total))
        updates = min(schedule.rounds, end)
        at_step = {round(i * end / updates): i for i in range(1, updates + 1)}
        step = 0

        def callback(m: nn.Module) -> None:
            nonlocal step
            _zero_masked(m)  # moments of weights pruned mid-training are still non-zero
            guard(m)
            step += 1
            if step in at_step:
                frac = agp_fraction(at_step[step] / updates)
                c = replace(scaled(cfg, frac, geometric=False), rounds=1)
                prune_model(m, c, data.score_batch, input_shape=data.input_shape)

        # s_0 = 0: registers the masks, prunes nothing
        prune(replace(scaled(cfg, 0.0, geometric=False), rounds=1))
        # the best validation epoch is chosen among those trained at the final mask
        final_mask_epoch = -(-end // len(data.train_loader))
        info = finetune_round(replace(finetune, patience=0, restore_best=True,
                                      select_from_epoch=final_mask_epoch), callback)
        outcome.rounds.append({"round": 1, "sparsity": cfg.sparsity, "mask_updates": updates,
                               "achieved_sparsity": achieved_sparsity(model),
                               **info})
    outcome.mask_checks = guard.checks
    return outcome


def qat_phase(model: nn.Module, data: PruneData, finetune: TrainConfig, *, epochs: int,
              lr: float, objective: Objective | None = None,
              log: Callable[[str], None] | None = None, progress=None) -> dict[str, Any]:
    """Quantization-aware fine-tuning at the final masks (Adam, constant `lr`, best
    validation epoch kept), then the rounded weights are baked in (`tinydeploy.train.qat`).
    Activation ranges are the export's calibration ranges for the current weights,
    re-measured every `QAT_RECALIBRATE_STEPS` steps and at the end of every epoch (so the
    validation accuracy that selects the epoch is that of the int8 model)."""
    from tinydeploy.train import qat
    from tinydeploy.train.loaders import to_float

    images = (data.calibration_images if data.calibration_images is not None
              else data.train_loader.images[:CALIBRATION_IMAGES])
    state = qat.enable(model, [to_float(images)])
    guard = MaskGuard()
    steps_per_epoch = len(data.train_loader)
    step = 0

    def callback(m: nn.Module) -> None:
        nonlocal step
        guard(m)
        step += 1
        if step % QAT_RECALIBRATE_STEPS == 0 or step % steps_per_epoch == 0:
            qat.recalibrate(m, state)

    try:
        # no weight averaging here: the fake-quantized weights are rounded at the end
        cfg = finetune_config(finetune, epochs=epochs, lr=lr, patience=0, weight_average=0.0)
        info = _finetune(model, data, cfg, callback, log, progress, objective)
    finally:
        qat.bake(model, state)
    check_masks(model)  # rounding kept every pruned weight at exactly zero
    return {"phase": "qat", **info, "mask_checks": guard.checks,
            "calibration_images": len(images)}
