"""The `tinydeploy run` configuration (TOML), validated into dataclasses.

    [run]      name, dataset, model, board, samples (on-device test images), seed
    [train]    checkpoint = "path" to load, or epochs / lr / train_limit to train
    [export]   calib_images, eval_limit (host int8 accuracy; default the whole test set)
    [[variant]] one per model to deploy: name, and for pruned ones method, sparsity, scope,
               granularity, schedule, finetune_epochs (or a named recipe);
               formats = ["dense", "csr", "nm", "auto"]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tinydeploy.errors import TinydeployError
from tinydeploy.tomlfile import read_toml

# allocated: each layer in the format its latency-aware allocation chose (objective latency)
FORMATS = ("dense", "csr", "nm", "auto", "allocated")
DEFAULT_CONFIG = Path(__file__).resolve().parent / "default.toml"


@dataclass(frozen=True)
class VariantConfig:
    name: str
    method: str | None = None  # None: the dense (unpruned) model
    sparsity: float = 0.0
    scope: str = "global"
    granularity: str = "unstructured"
    layers: tuple[str, ...] | None = None  # layers to prune (default: all prunable layers)
    schedule: str = "oneshot"
    finetune_epochs: int = 2
    finetune_lr: float = 1e-4
    # a named fine-tuning recipe (`tinydeploy prune --recipe`); schedule, finetune_epochs and
    # finetune_lr given beside it override its fields
    recipe: str | None = None
    recipe_overrides: tuple[tuple[str, Any], ...] = ()
    formats: tuple[str, ...] = ("dense",)
    objective: str = "accuracy"  # latency: per-layer allocation within budget / speedup
    budget: float | None = None  # instructions per inference on the run's board
    speedup: float | None = None  # instead of budget: dense instructions / speedup
    max_flash: int | None = None  # objective latency: flash bytes the image may use
    max_ram: int | None = None  # objective latency: peak RAM bytes the firmware may use
    min_accuracy: float | None = None  # objective latency, no budget: validation top-1 floor
    latency_formats: tuple[str, ...] | None = None  # formats the allocation may use
    # candidate plans, each fine-tuned, the best on validation kept (tinydeploy.latency.plans)
    latency_plans: tuple[str, ...] = ("knapsack",)
    # channel removal offered at these fractions of each layer's output channels
    latency_channels: tuple[float, ...] = ()

    @property
    def pruned(self) -> bool:
        return self.method is not None


@dataclass(frozen=True)
class RunConfig:
    name: str = "tinynet-mnist"
    dataset: str = "mnist"
    model: str = "tinynet"
    board: str = "qemu-m4"
    samples: int = 1000
    auto_objective: str = "latency"  # how `auto` picks a format per layer: latency | bytes
    seed: int = 0
    checkpoint: str | None = None
    train: dict[str, Any] = field(default_factory=dict)
    calib_images: int = 500
    eval_limit: int | None = None
    variants: tuple[VariantConfig, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_RUN_KEYS = {"name", "dataset", "model", "board", "samples", "seed", "auto_objective"}
_TRAIN_KEYS = {"checkpoint", "epochs", "lr", "batch_size", "train_limit", "val_size"}
_VARIANT_KEYS = set(VariantConfig.__dataclass_fields__) - {"recipe_overrides"}
# variant keys that override a recipe's fields when a recipe is named
RECIPE_FIELDS = {"schedule": "schedule", "finetune_epochs": "epochs", "finetune_lr": "lr"}


def _check_keys(section: str, got: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(got) - allowed)
    if unknown:
        raise TinydeployError(
            f"config [{section}]: unknown option(s) {', '.join(unknown)}; "
            f"valid: {', '.join(sorted(allowed))}"
        )


def load_config(path: str | Path | None = None) -> RunConfig:
    path = Path(path) if path is not None else DEFAULT_CONFIG
    raw = read_toml(path, "config file")
    _check_keys("top level", raw, {"run", "train", "export", "variant"})
    run = raw.get("run", {})
    _check_keys("run", run, _RUN_KEYS)
    train = dict(raw.get("train", {}))
    _check_keys("train", train, _TRAIN_KEYS)
    export = raw.get("export", {})
    _check_keys("export", export, {"calib_images", "eval_limit"})
    variants = []
    for i, v in enumerate(raw.get("variant", [])):
        _check_keys(f"variant {i}", v, _VARIANT_KEYS)
        if "name" not in v:
            raise TinydeployError(f"config [[variant]] {i} needs a name")
        formats = tuple(v.get("formats", ["dense"]))
        bad = [f for f in formats if f not in FORMATS]
        if bad:
            raise TinydeployError(f"variant {v['name']}: unknown format(s) {bad}; "
                                  f"choose from {', '.join(FORMATS)}")
        layers = tuple(v["layers"]) if "layers" in v else None
        lat_formats = tuple(v["latency_formats"]) if "latency_formats" in v else None
        plans = tuple(v.get("latency_plans", ["knapsack"]))
        channels = tuple(float(c) for c in v.get("latency_channels", []))
        variant = VariantConfig(**{**v, "formats": formats, "layers": layers,
                                   "latency_formats": lat_formats, "latency_plans": plans,
                                   "latency_channels": channels})
        if variant.objective not in ("accuracy", "latency"):
            raise TinydeployError(f"variant {variant.name}: objective must be accuracy or "
                                  "latency")
        latency = variant.objective == "latency"
        if plans != ("knapsack",):
            from tinydeploy.latency.plans import check_plan_kinds

            check_plan_kinds(plans)  # an unknown kind fails here, before any work
        if channels and not latency:
            raise TinydeployError(f"variant {variant.name}: latency_channels needs "
                                  "objective = \"latency\"")
        if any(not 0.0 < c < 1.0 for c in channels):
            raise TinydeployError(f"variant {variant.name}: latency_channels are fractions "
                                  "of a layer's output channels, in (0, 1)")
        if latency and variant.budget is not None and variant.speedup is not None:
            raise TinydeployError(f"variant {variant.name}: give budget or speedup, not both")
        if latency and variant.budget is None and variant.speedup is None \
                and variant.max_flash is None and variant.max_ram is None \
                and variant.min_accuracy is None:
            raise TinydeployError(f"variant {variant.name}: objective latency needs budget, "
                                  "speedup, max_flash, max_ram or min_accuracy")
        if "allocated" in formats and not latency:
            raise TinydeployError(f"variant {variant.name}: format 'allocated' needs "
                                  "objective = \"latency\"")
        if variant.recipe is not None:
            from tinydeploy.prune.recipes import get_recipe

            overrides = tuple((field, v[key]) for key, field in RECIPE_FIELDS.items() if key in v)
            variant = replace(variant, recipe_overrides=overrides)
            # an unknown name or a bad value fails here, before any work
            get_recipe(variant.recipe).with_overrides(**dict(overrides))
        if latency and variant.method is None:
            raise TinydeployError(f"variant {variant.name}: objective latency needs a method "
                                  "(the criterion that ranks weights, e.g. magnitude)")
        variants.append(variant)
    if run.get("auto_objective", "latency") not in ("latency", "bytes"):
        raise TinydeployError("[run] auto_objective must be 'latency' or 'bytes'")
    if not variants:
        raise TinydeployError(f"config {path} defines no [[variant]]")
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise TinydeployError(f"variant names must be unique, got {names}")
    return RunConfig(
        **run,
        checkpoint=train.pop("checkpoint", None),
        train=train,
        calib_images=export.get("calib_images", 500),
        eval_limit=export.get("eval_limit"),
        variants=tuple(variants),
    )
