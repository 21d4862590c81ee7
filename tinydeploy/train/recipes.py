"""Default training recipes per dataset (chosen on the validation split, never on test)."""

from __future__ import annotations

from dataclasses import replace

from tinydeploy.train.trainer import TrainConfig

RECIPES: dict[str, TrainConfig] = {
    "mnist": TrainConfig(epochs=30, lr=3e-3, weight_decay=5e-4, shift=2, rotate=10.0, scale=0.1,
                         label_smoothing=0.1),
    "fashion-mnist": TrainConfig(epochs=60, lr=3e-3, shift=1, hflip=True, label_smoothing=0.1),
}
DEFAULT = TrainConfig()


def recipe_for(dataset: str, **overrides) -> TrainConfig:
    """The dataset's recipe with any non-None overrides applied."""
    base = RECIPES.get(dataset, DEFAULT)
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})
