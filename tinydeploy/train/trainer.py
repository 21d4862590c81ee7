"""The training loop. It knows nothing about pruning: masks live on the model itself, so
fine-tuning a pruned model is plain training (a `step_callback` can verify invariants)."""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from rich.progress import Progress
from torch import nn

from tinydeploy.errors import TinydeployError
from tinydeploy.progress import progress_bar
from tinydeploy.train.averaging import WeightAverage, check_weight_average
from tinydeploy.train.evaluate import accuracy
from tinydeploy.train.loaders import ArrayLoader, Augment


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 20
    batch_size: int = 128
    optimizer: str = "adamw"  # adamw | adam | sgd
    lr: float = 3e-3  # peak learning rate (one-cycle) or constant rate
    weight_decay: float = 1e-4
    schedule: str = "onecycle"  # onecycle | cosine | constant
    # Length of the run the LR schedule belongs to (None: `epochs`). Longer than `epochs`,
    # training follows the last `epochs` epochs of that schedule: learning-rate rewinding
    # (Renda et al. 2020) fine-tunes with the tail of the original training schedule.
    schedule_epochs: int | None = None
    label_smoothing: float = 0.0
    shift: int = 0  # augmentation: random translation in pixels
    hflip: bool = False  # augmentation: random horizontal flip
    rotate: float = 0.0  # augmentation: random rotation, degrees
    scale: float = 0.0  # augmentation: random zoom, relative
    erase: float = 0.0  # augmentation: random-erasing probability
    val_size: int = 5000  # held out from train for model selection
    patience: int = 0  # early stopping on validation accuracy (0 = off)
    restore_best: bool = False  # keep the weights of the best validation epoch
    # epochs before this one are not candidates for the best epoch nor count for early
    # stopping (gradual pruning: the mask is still changing then)
    select_from_epoch: int = 1
    # Polyak averaging (`tinydeploy.train.averaging`): the decay of a moving average of the
    # weights started at the end of epoch `select_from_epoch`; later epochs are evaluated,
    # selected and kept as the averaged weights. 0 = off.
    weight_average: float = 0.0
    seed: int = 0
    train_limit: int | None = None  # use only the first N training images (tests, smoke runs)

    def __post_init__(self) -> None:
        if not 0.0 <= self.label_smoothing < 1.0:
            raise TinydeployError(
                f"label smoothing must be in [0, 1), got {self.label_smoothing}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class EpochStats:
    epoch: int
    train_loss: float
    train_acc: float
    val_acc: float
    seconds: float


@dataclass
class TrainResult:
    history: list[EpochStats] = field(default_factory=list)
    best_epoch: int = 0
    best_val_acc: float = 0.0
    seconds: float = 0.0
    images_per_second: float = 0.0

    def to_dict(self) -> dict:
        return {
            "history": [asdict(h) for h in self.history],
            "best_epoch": self.best_epoch,
            "best_val_acc": self.best_val_acc,
            "seconds": self.seconds,
            "images_per_second": self.images_per_second,
        }


Objective = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adamw": lambda params, cfg: torch.optim.AdamW(
        params, lr=cfg.lr, weight_decay=cfg.weight_decay
    ),
    "adam": lambda params, cfg: torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay),
    "sgd": lambda params, cfg: torch.optim.SGD(
        params, lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay
    ),
}


SCHEDULES = ("onecycle", "cosine", "constant")


def _make_scheduler(opt: torch.optim.Optimizer, schedule: str, lr: float, steps: int):
    if schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    if schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    raise TinydeployError(f"unknown schedule {schedule!r}; choose {', '.join(SCHEDULES)}")


def lr_curve(schedule: str, lr: float, steps: int) -> list[float]:
    """The learning rate at every step of a `steps`-step run of `schedule`."""
    probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = _make_scheduler(probe, schedule, lr, steps)
    out = []
    for _ in range(steps):
        out.append(probe.param_groups[0]["lr"])
        probe.step()
        sched.step()
    return out


def _scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, steps: int, steps_per_epoch: int):
    full = max(cfg.epochs, cfg.schedule_epochs or cfg.epochs) * steps_per_epoch
    if full <= steps:
        return _make_scheduler(opt, cfg.schedule, cfg.lr, steps)
    # rewinding: the last `steps` learning rates of the full-length schedule
    tail = lr_curve(cfg.schedule, cfg.lr, full)[full - steps:]
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: tail[min(i, len(tail) - 1)] / cfg.lr)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def train(
    model: nn.Module,
    train_loader: ArrayLoader,
    val_loader: ArrayLoader | None,
    cfg: TrainConfig,
    *,
    step_callback: Callable[[nn.Module], None] | None = None,
    objective: Objective | None = None,
    progress: Progress | None = None,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train `model` in place with `cfg`; returns per-epoch history.

    `objective(images, logits, labels) -> loss` replaces the cross-entropy (e.g. knowledge
    distillation, `tinydeploy.train.distill`); it receives the augmented batch."""
    if cfg.optimizer not in OPTIMIZERS:
        raise TinydeployError(f"unknown optimizer {cfg.optimizer!r}; choose {sorted(OPTIMIZERS)}")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = OPTIMIZERS[cfg.optimizer](params, cfg)
    steps = max(1, cfg.epochs * len(train_loader))
    sched = _scheduler(opt, cfg, steps, len(train_loader))
    cross_entropy = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)

    def loss_fn(x: torch.Tensor, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return cross_entropy(out, y) if objective is None else objective(x, out, y)
    augment = Augment(cfg.shift, cfg.hflip, cfg.rotate, cfg.scale, cfg.erase)
    if augment.active:
        train_loader.augment = augment
    check_weight_average(cfg.weight_average)
    result = TrainResult()
    best_state = None
    averager: WeightAverage | None = None
    stale = 0
    own_progress = progress is None
    progress = progress or progress_bar()
    start = time.perf_counter()
    with progress if own_progress else contextlib.nullcontext():
        task = progress.add_task("train", total=steps, status="")
        for epoch in range(1, cfg.epochs + 1):
            t0 = time.perf_counter()
            model.train()
            loss_sum = correct = seen = 0.0
            for x, y in train_loader:
                opt.zero_grad(set_to_none=True)
                out = model(x)
                loss = loss_fn(x, out, y)
                if not math.isfinite(loss.item()):
                    raise TinydeployError(
                        f"training diverged at epoch {epoch} (loss {loss.item()}); lower the lr"
                    )
                loss.backward()
                opt.step()
                sched.step()
                if step_callback is not None:
                    step_callback(model)
                if averager is not None:
                    averager.update()
                loss_sum += loss.item() * len(y)
                correct += int((out.argmax(1) == y).sum())
                seen += len(y)
                progress.update(
                    task, advance=1, status=f"epoch {epoch}/{cfg.epochs} loss {loss.item():.3f}"
                )
            with averager.swapped_in() if averager else contextlib.nullcontext():
                val_acc = (accuracy(model, val_loader) if val_loader is not None
                           else float("nan"))
            stats = EpochStats(epoch, loss_sum / seen, 100 * correct / seen, val_acc,
                               time.perf_counter() - t0)
            result.history.append(stats)
            if log:
                log(f"epoch {epoch}: train loss {stats.train_loss:.4f} "
                    f"train acc {stats.train_acc:.2f}% val acc {val_acc:.2f}%")
            if epoch < cfg.select_from_epoch:
                continue
            if val_loader is not None and val_acc > result.best_val_acc:
                result.best_val_acc, result.best_epoch, stale = val_acc, epoch, 0
                if cfg.restore_best:
                    with averager.swapped_in() if averager else contextlib.nullcontext():
                        best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
                if cfg.patience and stale >= cfg.patience:
                    if log:
                        log(f"early stop after epoch {epoch} (no val gain for {stale} epochs)")
                    break
            if cfg.weight_average and averager is None:  # from here on, on a settled mask
                averager = WeightAverage(model, cfg.weight_average)
        if not own_progress:
            progress.remove_task(task)
    if best_state is not None:
        model.load_state_dict(best_state)
    elif averager is not None:
        averager.load_into_model()
    result.seconds = time.perf_counter() - start
    total_images = len(result.history) * train_loader.num_samples
    result.images_per_second = total_images / max(result.seconds, 1e-9)
    return result
