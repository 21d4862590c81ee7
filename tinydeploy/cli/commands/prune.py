"""`tinydeploy prune`."""

from __future__ import annotations

from pathlib import Path

import typer

from tinydeploy.cli.options import DataDir, Force, TrainLimit, comma_separated, out_option


def register(app: typer.Typer) -> None:
    app.command("prune")(prune_cmd)


def _parse_layer_sparsity(text: str) -> dict[str, float]:
    """'conv1=0.5,fc1=0.9' or a JSON file path holding {"layer": sparsity}."""
    import json

    from tinydeploy.errors import TinydeployError

    path = Path(text)
    if text.endswith(".json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise TinydeployError(f"cannot read layer sparsities from {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise TinydeployError(f"{path} must hold a JSON object layer -> sparsity")
        return {str(k): float(v) for k, v in data.items()}
    out = {}
    for item in comma_separated(text):
        name, sep, value = item.partition("=")
        try:
            out[name] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise TinydeployError(f"bad --layer-sparsity item {item!r}; use layer=0.9,...")
    return out


#: prune options `--method smart` cannot use: it allocates and fine-tunes on its own
SMART_IGNORES = (
    "recipe", "schedule", "lr_schedule", "distill", "distill_temperature", "distill_weight",
    "teacher", "qat_epochs", "qat_lr", "mask_learning", "srste_decay", "weight_average",
    "nm_ramp", "augment", "scope", "layer_sparsity", "layers", "granularity",
    "physically_remove", "at", "rounds", "prevent_collapse", "train_epochs", "rewind_epoch",
    "score_samples")


def _given(ctx: typer.Context, names: tuple[str, ...]) -> list[str]:
    """The command-line spellings of the options among `names` the user gave (whatever
    the value: `--scope global` too), as opposed to left at their defaults."""
    def given(name: str) -> bool:  # by name: typer vendors its own click (typer._click)
        source = ctx.get_parameter_source(name)
        assert source is not None, f"{name!r} is not an option of this command"
        return source.name != "DEFAULT"

    return ["--" + name.replace("_", "-") for name in names if given(name)]


def prune_cmd(
    ctx: typer.Context,
    checkpoint: Path = typer.Option(..., "--checkpoint", "-c",
                                    help="Trained checkpoint (.safetensors, .json or run dir)."),
    method: str = typer.Option("magnitude", "--method", "-m",
                               help="Criterion: random, magnitude, gradient, activation, lap, "
                               "lamp, snip, grasp, synflow, obd; channel only: l1, l2, apoz, "
                               "thinet; smart = sensitivity-aware per-layer allocation "
                               "(tinydeploy analyze smart)."),
    scope: str = typer.Option("global", "--scope", help="global, layerwise or explicit."),
    sparsity: float | None = typer.Option(None, "--sparsity",
                                          help="Fraction removed, in [0, 1) (default 0.9)."),
    compression: float | None = typer.Option(None, "--compression",
                                             help="Compression ratio n / n_nonzero (>= 1); "
                                             "instead of --sparsity."),
    layer_sparsity: str | None = typer.Option(
        None, "--layer-sparsity",
        help="Explicit per-layer sparsities: 'conv1=0.5,fc1=0.95' or a .json file "
        "(implies --scope explicit)."),
    granularity: str = typer.Option("unstructured", "--granularity", "-g",
                                    help="unstructured, nm:N:M (e.g. nm:2:4) or channel."),
    layers: str | None = typer.Option(
        None, "--layers", help="Prune only these layers, comma-separated, e.g. conv2,fc1,fc2 "
        "(default: every Conv2d and Linear layer)."),
    physically_remove: bool = typer.Option(
        False, "--physically-remove",
        help="With channel granularity: write a smaller dense model."),
    recipe: str = typer.Option(
        "recommended", "--recipe",
        help="Fine-tuning recipe: recommended (AGP pruning in 20 steps over 40 epochs of Adam "
        "2e-3 cosine-annealed on the plain images, then a QAT epoch), recommended-augmented "
        "(the same with the checkpoint's training augmentation), course (one-shot, Adam 1e-4, "
        "<= 10 epochs: the course report's protocol), finetune-1e-3 (the same at 1e-3). The "
        "options below override single fields of it."),
    schedule: str | None = typer.Option(
        None, "--schedule", help="oneshot, iterative:K, gradual[:K] (AGP, K mask updates) or "
        "lottery:K (default: the recipe's)."),
    at: str = typer.Option("trained", "--at",
                           help="trained: prune the trained weights; init: prune the "
                           "re-created initial weights (foresight) then train."),
    rounds: int | None = typer.Option(None, "--rounds",
                                      help="Scoring rounds (default: criterion's; synflow "
                                      "100)."),
    prevent_collapse: int = typer.Option(0, "--prevent-collapse",
                                         help="Keep >= K weights per output row (channels "
                                         "per layer)."),
    grasp_temperature: float | None = typer.Option(
        None, "--grasp-temperature",
        help="GraSP: score the cross-entropy of the logits divided by T (default 200, as the "
        "authors' code does; 1 = raw logits)."),
    finetune_epochs: int | None = typer.Option(
        None, "--finetune-epochs", help="Fine-tune epochs per round (0: prune one-shot, no "
        "training; default: the recipe's)."),
    finetune_lr: float | None = typer.Option(
        None, "--finetune-lr", help="Fine-tune Adam lr with --lr-schedule constant "
        "(default: the recipe's)."),
    lr_schedule: str | None = typer.Option(
        None, "--lr-schedule", help="constant (Adam at --finetune-lr), cosine (Adam from "
        "--finetune-lr annealed to zero) or rewind (LR rewinding: the checkpoint's optimizer "
        "and the tail of its training LR schedule)."),
    distill: bool | None = typer.Option(
        None, "--distill/--no-distill", help="Knowledge distillation from the teacher "
        "during fine-tuning (default: the recipe's)."),
    distill_temperature: float | None = typer.Option(
        None, "--distill-temperature", help="Distillation softmax temperature (default 4)."),
    distill_weight: float | None = typer.Option(
        None, "--distill-weight", help="Weight of the soft (teacher) term, in [0, 1] "
        "(default 0.9)."),
    teacher: Path | None = typer.Option(
        None, "--teacher", help="Distillation teacher checkpoint (default: the checkpoint "
        "being pruned, before pruning)."),
    qat_epochs: int | None = typer.Option(
        None, "--qat-epochs", help="Quantization-aware fine-tuning epochs at the end "
        "(int8 weights per channel and activations simulated; 0: none)."),
    qat_lr: float | None = typer.Option(None, "--qat-lr", help="QAT Adam lr (default 1e-4)."),
    mask_learning: str | None = typer.Option(
        None, "--mask-learning", help="fixed (masks from the schedule, never regrown) or "
        "srste (the mask is re-learned from the magnitudes while training, sparse-refined "
        "straight-through gradients, Zhou et al. 2021; N:M or unstructured, --method "
        "magnitude)."),
    srste_decay: float | None = typer.Option(
        None, "--srste-decay", help="SR-STE decay on the pruned weights (default 2e-4)."),
    weight_average: float | None = typer.Option(
        None, "--weight-average", help="Polyak averaging: decay of a moving average of the "
        "weights at the final mask, e.g. 0.999 (0: off; default: the recipe's)."),
    nm_ramp: bool | None = typer.Option(
        None, "--nm-ramp/--no-nm-ramp", help="SR-STE N:M: reach the pattern gradually, N "
        "falling from M to its target along the AGP cubic (default: the recipe's)."),
    augment: str | None = typer.Option(
        None, "--augment", help="Fine-tune augmentation: checkpoint (the model's own "
        "training augmentation) or none (plain images; default: the recipe's)."),
    train_epochs: int | None = typer.Option(None, "--train-epochs",
                                            help="With --at init: training epochs."),
    rewind_epoch: int = typer.Option(0, "--rewind-epoch",
                                     help="Lottery: rewind to init (0) or this early epoch."),
    train_limit: int | None = TrainLimit,
    test_limit: int | None = typer.Option(None, "--test-limit",
                                          help="Evaluate on the first N test images."),
    score_samples: int = typer.Option(256, "--score-samples",
                                      help="Training images used by data-driven criteria."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of scoring and batch order "
                                  "(default: the checkpoint's); the validation split stays "
                                  "the checkpoint's."),
    objective: str = typer.Option(
        "accuracy", "--objective",
        help="accuracy: prune as asked above; latency: choose per layer the sparsity, "
        "granularity (unstructured or N:M) and weight format that keep the most validation "
        "accuracy within --budget/--speedup on --board, from measured per-layer costs."),
    board: str = typer.Option("qemu-m4", "--board", "-b",
                              help="--objective latency: the QEMU core whose costs count."),
    budget: float | None = typer.Option(
        None, "--budget", help="--objective latency: instructions per inference allowed."),
    speedup: float | None = typer.Option(
        None, "--speedup", help="--objective latency: instead of --budget, this many times "
        "fewer instructions than the dense model measured on the board."),
    max_flash: int | None = typer.Option(
        None, "--max-flash", help="--objective latency: flash bytes the whole image may use "
        "(code, kernels counted once, weights and the rest), from the measured costs; alone, "
        "the fastest plan within it that is no slower than dense."),
    max_ram: int | None = typer.Option(
        None, "--max-ram", help="--objective latency: peak RAM bytes the firmware may use "
        "(static data, activation arena with kernel scratch, stack), predicted from the "
        "generator's arena plan and the measured stack; formats change only the scratch."),
    latency_penalty: str = typer.Option(
        "fisher", "--latency-penalty", help="--objective latency: how a layer option is "
        "scored: fisher (estimated validation loss increase, Fisher-weighted squared "
        "magnitude removed) or magnitude (squared magnitude removed, as global magnitude "
        "pruning ranks weights)."),
    latency_plans: str = typer.Option(
        "knapsack", "--latency-plans", help="--objective latency: candidate plans, "
        "comma-separated, each fine-tuned, the best on validation kept: knapsack (per-layer "
        "options by measured cost and sensitivity), uniform, global-magnitude, lamp (those "
        "criteria's sparsity profiles at the least sparsity that fits the budget). Each "
        "one more costs one more fine-tune."),
    min_accuracy: float | None = typer.Option(
        None, "--min-accuracy", help="--objective latency, instead of a budget: the fewest "
        "instructions whose fine-tuned model keeps this validation top-1 (%); a bisection "
        "over budgets, each probe a full prune + fine-tune."),
    floor_probes: int = typer.Option(
        4, "--floor-probes", help="--min-accuracy: budgets tried (fine-tunes run)."),
    latency_formats: str | None = typer.Option(
        None, "--latency-formats", help="--objective latency: the weight formats allowed, "
        "comma-separated (default: all the kernels run: dense, csr, csrd, nm<N>_<M>)."),
    latency_channels: str | None = typer.Option(
        None, "--latency-channels", help="--objective latency: also offer channel removal "
        "at these fractions of each layer's output channels, comma-separated (e.g. "
        "0.25,0.5); a removal makes the layer and the next one smaller and stays dense. "
        "The resized layers are measured too; a plan that removes channels is saved "
        "physically smaller."),
    latency_cache: Path | None = typer.Option(
        None, "--latency-cache", help="Where measured cost points are kept (default "
        "$XDG_CACHE_HOME/tinydeploy/latency/<board>)."),
    data_dir: Path | None = DataDir,
    out: Path = out_option("runs/prune"),
    force: bool = Force,
) -> None:
    """Prune a checkpoint; writes model.safetensors/.json, prune_report.json and .md
    (and latency_allocation.json with --objective latency)."""
    from tinydeploy.errors import TinydeployError
    from tinydeploy.prune.engine import Granularity, PruneConfig, compression_to_sparsity
    from tinydeploy.prune.recipes import get_recipe
    from tinydeploy.prune.schedules import Schedule

    chosen = get_recipe(recipe).with_overrides(
        schedule=schedule, epochs=finetune_epochs, lr=finetune_lr, lr_schedule=lr_schedule,
        distill=distill, distill_temperature=distill_temperature,
        distill_weight=distill_weight, qat_epochs=qat_epochs, qat_lr=qat_lr,
        mask_learning=mask_learning, srste_decay=srste_decay, nm_ramp=nm_ramp,
        weight_average=weight_average, augment=augment)
    if (schedule is not None and Granularity.parse(granularity).kind == "nm"
            and chosen.mask_learning == "fixed" and Schedule.parse(schedule).kind != "oneshot"):
        raise TinydeployError("N:M granularity supports the oneshot schedule only (or "
                              "--mask-learning srste)")
    if teacher is not None and not chosen.distill:
        raise TinydeployError("--teacher needs --distill (the recipe does not distill)")
    if schedule is None and finetune_epochs == 0:  # no training to prune during
        chosen = chosen.with_overrides(schedule="oneshot")
    if finetune_epochs == 0 and qat_epochs is None:
        chosen = chosen.with_overrides(qat_epochs=0)  # "0: no training at all"
    if sparsity is not None and compression is not None:
        raise TinydeployError("give --sparsity or --compression, not both")
    if compression is not None:
        sparsity = compression_to_sparsity(compression)
    if objective not in ("accuracy", "latency"):
        raise TinydeployError(f"--objective must be accuracy or latency, got {objective!r}")
    if grasp_temperature is not None and (method != "grasp" or objective != "accuracy"):
        raise TinydeployError("--grasp-temperature needs --method grasp (--objective accuracy)")
    if objective == "latency":
        from tinydeploy.latency.problem import check_targets

        if layers is not None:
            raise TinydeployError("--layers needs --objective accuracy (the latency "
                                  "allocation chooses what to prune in every layer)")

        check_targets(budget, speedup, max_flash, max_ram, min_accuracy)  # before any I/O
        formats = comma_separated(latency_formats) or None
        _latency(checkpoint, out, board, budget, speedup, method, force, latency_cache,
                 formats, data_dir, max_flash=max_flash, max_ram=max_ram,
                 min_accuracy=min_accuracy, penalty=latency_penalty,
                 plans=comma_separated(latency_plans),
                 channel_sparsities=_fractions(latency_channels, "--latency-channels"),
                 floor_probes=floor_probes, recipe=chosen, teacher=_teacher(teacher),
                 train_limit=train_limit, test_limit=test_limit, seed=seed)
        return
    if latency_channels is not None:
        raise TinydeployError("--latency-channels needs --objective latency")
    if any(v is not None for v in (budget, speedup, max_flash, max_ram, min_accuracy)):
        raise TinydeployError("--budget/--speedup/--max-flash/--max-ram/--min-accuracy need "
                              "--objective latency")
    if method == "smart":  # sensitivity-aware allocation lives in tinydeploy.analysis
        from tinydeploy.analysis.smart import smart_prune
        from tinydeploy.checkpoint import checkpoint_paths

        ignored = _given(ctx, SMART_IGNORES)
        if ignored:
            raise TinydeployError(
                f"--method smart has its own fine-tuning and allocation (per-layer scans, then "
                f"one global phase at --finetune-epochs/--finetune-lr); it cannot use "
                f"{', '.join(ignored)}. Drop them, or pick a criterion instead of smart")
        if not checkpoint_paths(checkpoint)[0].is_file():
            raise TinydeployError(f"checkpoint {checkpoint} not found")
        outcome = smart_prune(
            checkpoint=checkpoint, sparsity=0.9 if sparsity is None else sparsity, out=out,
            # smart pruning has its own fine-tuning (per-layer scans, then one global phase);
            # only the epochs and lr given on the command line reach it
            force=force, finetune_epochs=10 if finetune_epochs is None else finetune_epochs,
            finetune_lr=1e-4 if finetune_lr is None else finetune_lr,
            train_limit=train_limit, test_limit=test_limit, data_dir=data_dir,
            seed=0 if seed is None else seed, log=typer.echo)
        typer.echo(f"{outcome.line()}; wrote {out}")
        return
    explicit = _parse_layer_sparsity(layer_sparsity) if layer_sparsity else {}
    if explicit:
        scope = "explicit"
    only = None
    if layers is not None:
        only = tuple(comma_separated(layers))
        if not only:
            raise TinydeployError("--layers needs at least one layer name")
    gran = Granularity.parse(granularity)
    if physically_remove and gran.kind != "channel":
        raise TinydeployError("--physically-remove needs --granularity channel")
    for name, value in (("--rewind-epoch", rewind_epoch), ("--score-samples", score_samples - 1)):
        if value < 0:
            raise TinydeployError(f"{name} must be positive")
    criterion_kwargs = {}
    if method == "grasp":  # recorded in the report even when left at the default
        from tinydeploy.prune.criteria.grasp import DEFAULT_TEMPERATURE

        criterion_kwargs["temperature"] = (DEFAULT_TEMPERATURE if grasp_temperature is None
                                           else grasp_temperature)
    cfg = PruneConfig(method=method, sparsity=0.9 if sparsity is None else sparsity,
                      scope=scope, layer_sparsity=explicit, layers=only,
                      granularity=str(gran), rounds=rounds,
                      prevent_collapse=prevent_collapse, criterion_kwargs=criterion_kwargs)
    from tinydeploy.prune.criteria import get_criterion

    # fail on an unknown method or a bad option before any data is loaded
    get_criterion(method, **criterion_kwargs)
    if not checkpoint.exists():
        raise TinydeployError(f"checkpoint {checkpoint} not found")
    from tinydeploy.prune.run import prune_checkpoint

    outcome = prune_checkpoint(
        out=out, force=force, checkpoint=checkpoint, cfg=cfg, recipe=chosen,
        teacher=_teacher(teacher), when=at,
        train_epochs=train_epochs, rewind_epoch=rewind_epoch,
        physically_remove=physically_remove, data_dir=data_dir, train_limit=train_limit,
        test_limit=test_limit, score_samples=score_samples, seed=seed,
        log=typer.echo,
    )
    g = outcome.report["global"]
    acc = outcome.report["accuracy"]
    typer.echo(
        f"sparsity requested {g['requested_sparsity']} ({g['requested_unit']}), achieved "
        f"{g['achieved_sparsity']:.4f} "
        f"({g['nonzeros']}/{g['weights']} weights non-zero); test top-1 "
        f"{acc['dense_top1']:.2f}% -> {acc['pruned_top1']:.2f}%; wrote {out}"
    )


def _teacher(path: Path | None) -> Path | None:
    from tinydeploy.checkpoint import checkpoint_paths
    from tinydeploy.errors import TinydeployError

    if path is not None and not checkpoint_paths(path)[0].is_file():
        raise TinydeployError(f"teacher checkpoint {path} not found")
    return path


def _fractions(text: str | None, option: str) -> list[float]:
    from tinydeploy.errors import TinydeployError

    try:
        return [float(v) for v in comma_separated(text)]
    except ValueError:
        raise TinydeployError(f"{option} takes comma-separated fractions, got {text!r}") \
            from None


def _latency(checkpoint: Path, out: Path, board: str, budget: float | None,
             speedup: float | None, method: str, force: bool, cache: Path | None,
             formats: list[str] | None, data_dir: Path | None, **prune_kwargs) -> None:
    from tinydeploy.checkpoint import checkpoint_paths
    from tinydeploy.errors import TinydeployError
    from tinydeploy.firmware.requirements import require_firmware_build, require_qemu
    from tinydeploy.latency.prune import latency_prune_checkpoint

    if not checkpoint_paths(checkpoint)[0].is_file():
        raise TinydeployError(f"checkpoint {checkpoint} not found")
    require_firmware_build()
    require_qemu(board)
    outcome, info = latency_prune_checkpoint(
        checkpoint=checkpoint, out=out, board=board, budget=budget, speedup=speedup,
        method=method, force=force, cache_dir=cache, formats=formats, data_dir=data_dir,
        log=typer.echo,
        **prune_kwargs)
    acc = outcome.report["accuracy"]
    a = info["allocation"]
    if info.get("floor"):
        f = info["floor"]
        typer.echo(f"kept the probe at budget {f['kept_budget']:,.0f} of "
                   f"{len(f['probes'])} (validation top-1 >= {f['min_accuracy']:.2f}%)")
    if a.get("predicted_ram") is not None:
        typer.echo(f"predicted peak RAM {a['predicted_ram']:,.0f} B (limit "
                   f"{a['max_ram']:,.0f})")
    if a.get("predicted_flash") is not None:
        typer.echo(f"predicted flash {a['predicted_flash']:,.0f} B (limit "
                   f"{a['max_flash']:,.0f})")
    typer.echo(f"predicted {a['predicted_total']:,.0f} instructions on {board} "
               f"({info['predicted_speedup']:.2f}x fewer than dense {info['dense_measured']:,.0f}"
               f"); test top-1 {acc['dense_top1']:.2f}% -> {acc['pruned_top1']:.2f}%; "
               f"wrote {out}")
