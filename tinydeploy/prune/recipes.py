"""Fine-tuning recipes: how a pruned model is trained back, as one named, documented unit.

A recipe composes with every criterion, scope and granularity; it says

    schedule      when masks are made: oneshot, iterative:K, gradual[:K] (AGP, K mask
                  updates), lottery:K (see `tinydeploy.prune.schedules`)
    epochs, lr    the fine-tuning budget
    lr_schedule   constant: Adam at a constant `lr` (plain fine-tuning); cosine: Adam from
                  `lr` annealed to zero over the epochs;
                  rewind: learning-rate rewinding (Renda et al. 2020), the checkpoint's own
                  optimizer and the last `epochs` epochs of its training LR schedule
    distill       knowledge distillation from the teacher (default: the model before pruning)
    qat_epochs    a last phase of quantization-aware fine-tuning (`tinydeploy.train.qat`)
    augment       checkpoint: fine-tune with the model's own training augmentation (shifts,
                  rotations, flips, ...); none: on the plain images. A network left with a
                  few thousand weights underfits augmented data (see `recommended`)
    mask_learning fixed: masks are made by the schedule and never change back; srste
                  (Zhou et al. 2021): the mask is recomputed from the magnitudes during
                  training with sparse-refined straight-through gradients, so the pattern
                  is learned and pruned weights can return (N:M, or unstructured with the
                  AGP ramp; magnitude criterion)
    weight_average  Polyak averaging: the decay of a moving average of the weights over the
                  steps at the final mask (0: off); the averaged weights are the ones
                  evaluated, selected and kept (`tinydeploy.train.averaging`)
    nm_ramp       srste with N:M: reach the pattern gradually, N falling from M to its target
                  along the AGP cubic (instead of the final N:M from the first step)

`RECIPES` holds the named ones; `recommended` is the default of `tinydeploy prune`. With N:M
granularity the schedule is one-shot (an N:M mask cannot be reached gradually); add
`mask_learning="srste"` to learn the pattern instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from tinydeploy.errors import TinydeployError, unknown_choice
from tinydeploy.prune.schedules import Schedule
from tinydeploy.train.averaging import check_weight_average

LR_SCHEDULES = ("constant", "cosine", "rewind")
AUGMENT = ("checkpoint", "none")
MASK_LEARNING = ("fixed", "srste")


@dataclass(frozen=True)
class Recipe:
    name: str = "custom"
    schedule: str = "oneshot"
    epochs: int = 10
    lr: float = 1e-4  # lr_schedule constant; rewind uses the checkpoint's own peak rate
    lr_schedule: str = "constant"
    patience: int = 3  # early stopping on validation accuracy (oneshot/iterative phases)
    distill: bool = False
    distill_temperature: float = 4.0
    distill_weight: float = 0.9
    qat_epochs: int = 0
    qat_lr: float = 1e-4
    mask_learning: str = "fixed"
    srste_decay: float = 2e-4  # SR-STE's sparse-refined weight decay on pruned weights
    nm_ramp: bool = False  # srste N:M: N falls from M to its target along the AGP cubic
    augment: str = "checkpoint"
    weight_average: float = 0.0  # moving-average decay of the weights at the final mask

    def __post_init__(self) -> None:
        Schedule.parse(self.schedule)  # a bad schedule fails where the recipe is made
        if self.lr_schedule not in LR_SCHEDULES:
            raise unknown_choice("fine-tune LR schedule", self.lr_schedule, LR_SCHEDULES)
        if self.mask_learning not in MASK_LEARNING:
            raise unknown_choice("mask learning", self.mask_learning, MASK_LEARNING)
        if self.augment not in AUGMENT:
            raise unknown_choice("fine-tune augmentation", self.augment, AUGMENT)
        for name in ("epochs", "qat_epochs", "patience"):
            if getattr(self, name) < 0:
                raise TinydeployError(f"recipe {name} must be >= 0, got {getattr(self, name)}")
        check_weight_average(self.weight_average)
        if not 0.0 <= self.distill_weight <= 1.0:
            raise TinydeployError(f"distillation weight must be in [0, 1], got "
                                  f"{self.distill_weight}")
        for name in ("lr", "qat_lr", "distill_temperature"):
            if getattr(self, name) <= 0:
                raise TinydeployError(f"recipe {name} must be > 0, got {getattr(self, name)}")

    def with_overrides(self, **overrides: Any) -> Recipe:
        """This recipe with every non-None override applied (named `custom` if any was)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(given) - {f.name for f in fields(self)}
        if unknown:
            raise TinydeployError(f"unknown recipe fields: {', '.join(sorted(unknown))}")
        changed = {k: v for k, v in given.items() if getattr(self, k) != v}
        if not changed:
            return self
        return replace(self, **changed, name=f"{self.name}+" + ",".join(sorted(changed)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


RECIPES: dict[str, Recipe] = {
    # The protocol of the course report this project started from (Benchmark A): one-shot
    # pruning, Adam 1e-4, <= 10 epochs, early stopping.
    "course": Recipe("course"),
    # The same with a 10x rate: the first thing that works much better.
    "finetune-1e-3": Recipe("finetune-1e-3", lr=1e-3),
    # Gradual (AGP) pruning in 20 cubic steps over the first 70% of 40 epochs of Adam from
    # 2e-3 cosine-annealed to zero on the plain images (no augmentation), the best validation
    # epoch at the final mask kept, then one epoch of QAT. Chosen on the validation split
    # (README, "Fine-tuning recipes"): at 97% on MNIST 98.64% validation accuracy with the
    # checkpoint's augmentation, where constant-rate AGP (30 or 60 epochs), LR rewinding,
    # distillation and unstructured SR-STE each kept less; without augmentation 98.80%, and
    # more on validation at every other sparsity, N:M pattern and dataset tried.
    "recommended": Recipe("recommended", schedule="gradual:20", epochs=40, lr=2e-3,
                          lr_schedule="cosine", qat_epochs=1, augment="none"),
    # `recommended` as first chosen: fine-tuning with the checkpoint's own augmentation.
    "recommended-augmented": Recipe("recommended-augmented", schedule="gradual:20", epochs=40,
                                    lr=2e-3, lr_schedule="cosine", qat_epochs=1),
}
DEFAULT_RECIPE = "recommended"


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise unknown_choice("recipe", name, sorted(RECIPES))
    return RECIPES[name]
