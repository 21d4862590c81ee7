"""`tinydeploy analyze [--executor local|ray ...] sensitivity|gap|cliff|smart|robustness|weights`.

Every analysis writes `<kind>.json` (all raw numbers), `<kind>_*.png` and `<kind>.md` into
--out, atomically; the points it evaluates are sweep trials under `<out>/sweep/` (a re-run
after an interruption skips the finished ones). By default they run one after the other in
this process; `--executor`/`--workers` (given before the analysis name) send them to a local
process pool or to Ray, with identical results.

Data: every scan and selection (sensitivity, gap, cliff, smart's allocation, early stopping)
evaluates on the validation split of the checkpoint's own training recipe (the `val_size`
training images `tinydeploy train` held out); the test set gives final numbers only (smart's
final accuracies, robustness). `--eval-limit` limits the validation images of the scans.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import typer

from tinydeploy.cli.options import (
    DataDir,
    FinetuneLr,
    Force,
    Seed,
    TrainLimit,
    comma_separated,
    out_option,
)

CheckpointOpt = typer.Option(..., "--checkpoint", "-c",
                             help="Trained checkpoint (.safetensors, .json or run dir).")
EvalLimit = typer.Option(None, "--eval-limit",
                         help="Scan / select on the first N images of the validation split "
                         "(the checkpoint recipe's held-out training images; default: all). "
                         "The test set is never used for selection.")
TestLimit = typer.Option(None, "--test-limit",
                         help="Final test accuracies on the first N test images "
                         "(default: all).")
Threads = typer.Option(None, "--threads", help="torch CPU threads (1 is fastest on a busy "
                       "machine; default: torch's choice).")
Method = typer.Option("magnitude", "--method", "-m",
                      help="Pruning criterion (any weight criterion of `tinydeploy prune`).")
Scope = typer.Option("global", "--scope", help="Whole-model pruning: global (one threshold) "
                     "or layerwise (the same sparsity in every layer).")
Quiet = typer.Option(False, "--quiet", "-q", help="No progress bars.")

app = typer.Typer(help="Sensitivity, sensitivity gap, accuracy cliff, smart pruning, "
                  "adversarial robustness and weight distributions of pruned models.",
                  no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="analyze")


@app.callback()
def _executor_options(
    ctx: typer.Context,
    executor: str = typer.Option("local", "--executor",
                                 help="Where the evaluated points run: local or ray."),
    workers: int | None = typer.Option(
        None, "--workers", help="Local worker processes (default: in this process; "
        "with ray: ignored)."),
    ray_address: str | None = typer.Option(
        None, "--ray-address", envvar="RAY_ADDRESS",
        help="ray: 'auto' or host:port of a running cluster (default: a private local one)."),
) -> None:
    """Analyses of pruned models; every evaluated point is a resumable sweep trial."""
    if executor == "local" and not workers:
        return  # the sweeps' default: in-process, one trial at a time
    from tinydeploy.sweep import make_executor, use_executor

    ex = ctx.with_resource(make_executor(executor, workers=workers, ray_address=ray_address))
    ctx.with_resource(use_executor(ex))


def _set_threads(threads: int | None) -> None:
    from tinydeploy.errors import TinydeployError

    if threads is not None:
        if threads < 1:
            raise TinydeployError(f"--threads must be >= 1, got {threads}")
        import torch

        torch.set_num_threads(threads)


def _prepare(checkpoint: Path, out: Path, module: ModuleType, force: bool, threads: int | None,
             data_dir: Path | None, eval_limit: int | None, test_limit: int | None = None):
    from tinydeploy.analysis.context import load_context
    from tinydeploy.analysis.report import check_out

    _set_threads(threads)
    check_out(out, module.KIND, module.PLOTS, force)
    return load_context(checkpoint, data_dir, eval_limit, test_limit=test_limit)


def _finish(module: ModuleType, data: dict, out: Path, line: str) -> None:
    from tinydeploy.analysis.report import write_report

    write_report(out, module.KIND, data, module.markdown(data), module.plots(data))
    typer.echo(f"{line}; wrote {out}/{module.KIND}.json, .md and plots")


def _floats(text: str, name: str) -> list[float]:
    from tinydeploy.errors import TinydeployError

    try:
        values = [float(v) for v in comma_separated(text)]
    except ValueError:
        values = []
    if not values:
        raise TinydeployError(f"bad {name} {text!r}; give a comma list of numbers")
    return values


@app.command("sensitivity")
def sensitivity_cmd(
    checkpoint: Path = CheckpointOpt,
    grid: str = typer.Option("0:0.95:0.05", "--grid",
                             help="Layer sparsities: start:stop:step and/or a comma list."),
    method: str = Method,
    layers: str | None = typer.Option(None, "--layers", help="Comma list (default: all)."),
    seed: int = Seed,
    eval_limit: int | None = EvalLimit,
    threads: int | None = Threads,
    quiet: bool = Quiet,
    data_dir: Path | None = DataDir,
    out: Path = out_option("runs/analysis"),
    force: bool = Force,
) -> None:
    """Prune one layer at a time over a grid of ratios (no retraining): validation-accuracy
    table, heatmap, most/least sensitive layer per ratio."""
    from tinydeploy.analysis import sensitivity as mod

    ratios = mod.parse_grid(grid)
    ctx = _prepare(checkpoint, out, mod, force, threads, data_dir, eval_limit)
    data = mod.scan(ctx, sweep_dir=out / "sweep", ratios=ratios, method=method,
                    layers=comma_separated(layers) or None, seed=seed,
                    data_dir=data_dir, eval_limit=eval_limit, show_progress=not quiet)
    last = data["per_ratio"][-1]
    _finish(mod, data, out, f"validation ({len(ctx.val.y)} images): dense "
            f"{data['baseline_accuracy']:.2f}%; at "
            f"{100 * last['ratio']:.0f}% most sensitive {last['most_sensitive']} "
            f"({last['most_acc']:.2f}%), least {last['least_sensitive']} "
            f"({last['least_acc']:.2f}%)")


@app.command("gap")
def gap_cmd(
    checkpoint: Path = CheckpointOpt,
    grid: str = typer.Option("0:0.95:0.05", "--grid", help="Sparsity checkpoints."),
    method: str = Method,
    scope: str = Scope,
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap draws for the band."),
    band_quantile: float = typer.Option(0.95, "--band-quantile",
                                        help="Upper quantile defining the noise band."),
    seed: int = Seed,
    eval_limit: int | None = EvalLimit,
    threads: int | None = Threads,
    quiet: bool = Quiet,
    data_dir: Path | None = DataDir,
    out: Path = out_option("runs/analysis"),
    force: bool = Force,
) -> None:
    """Sensitivity gap (most- vs least-sensitive layer) across whole-model sparsity
    checkpoints, with its bootstrap noise band, departure point, ranking flips and the cliff
    (validation split)."""
    from tinydeploy.analysis import gap as mod
    from tinydeploy.analysis.sensitivity import parse_grid
    from tinydeploy.errors import TinydeployError

    checkpoints = parse_grid(grid)
    if bootstrap < 10 or not 0.5 <= band_quantile < 1:
        raise TinydeployError("--bootstrap must be >= 10 and --band-quantile in [0.5, 1)")
    ctx = _prepare(checkpoint, out, mod, force, threads, data_dir, eval_limit)
    data = mod.run(ctx, sweep_dir=out / "sweep", checkpoints=checkpoints, method=method,
                   scope=scope, bootstrap=bootstrap, band_quantile=band_quantile, seed=seed,
                   data_dir=data_dir, eval_limit=eval_limit, show_progress=not quiet)
    dep = data["departure"]
    _finish(mod, data, out, f"noise band {data['noise_band']['upper']:.2f} pts; gap leaves it "
            f"at {'never' if dep is None else f'{100 * dep:.0f}%'}; cliff starts at "
            f"{100 * data['cliff']['cliff_start']:.1f}%; {len(data['flips'])} flip(s)")


@app.command("cliff")
def cliff_cmd(
    checkpoint: Path = CheckpointOpt,
    grid: str = typer.Option("0:0.95:0.05", "--grid", help="Coarse sparsity grid."),
    method: str = Method,
    scope: str = Scope,
    resolution: float = typer.Option(0.001, "--resolution", help="Refinement resolution."),
    threshold: float = typer.Option(0.95, "--threshold",
                                    help="Report the last sparsity keeping this fraction of "
                                    "the dense accuracy."),
    finetune_epochs: int = typer.Option(0, "--finetune-epochs",
                                        help="Fine-tune every point for N epochs (0: none)."),
    finetune_lr: float = FinetuneLr,
    train_limit: int | None = TrainLimit,
    seed: int = Seed,
    eval_limit: int | None = EvalLimit,
    threads: int | None = Threads,
    quiet: bool = Quiet,
    data_dir: Path | None = DataDir,
    out: Path = out_option("runs/analysis"),
    force: bool = Force,
) -> None:
    """Locate the accuracy cliff of whole-model pruning: coarse sweep, then refinement to
    --resolution around the steepest drop (validation split)."""
    from tinydeploy.analysis import cliff as mod
    from tinydeploy.analysis.sensitivity import parse_grid
    from tinydeploy.errors import TinydeployError

    coarse = parse_grid(grid)
    if finetune_epochs < 0:
        raise TinydeployError("--finetune-epochs must be >= 0")
    ctx = _prepare(checkpoint, out, mod, force, threads, data_dir, eval_limit)
    data = mod.run(ctx, sweep_dir=out / "sweep", method=method, scope=scope, coarse=coarse,
                   resolution=resolution, threshold=threshold,
                   finetune_epochs=finetune_epochs, finetune_lr=finetune_lr,
                   train_limit=train_limit, seed=seed, data_dir=data_dir,
                   eval_limit=eval_limit, show_progress=not quiet)
    step = data["largest_step"]
    _finish(mod, data, out, f"cliff {100 * data['cliff_start']:.1f}%-"
            f"{100 * data['cliff_end']:.1f}%, largest step -{step['drop']:.2f} pts at "
            f"{100 * step['from']:.1f}%; last >= {100 * threshold:.0f}% of dense at "
            f"{100 * (data['last_above_threshold'] or 0):.1f}%")


@app.command("smart")
def smart_cmd(
    checkpoint: Path = CheckpointOpt,
    sparsity: float = typer.Option(0.9, "--sparsity", help="Target overall sparsity."),
    method: str = Method,
    grid: str = typer.Option("0:0.95:0.05,0.97,0.98,0.99", "--grid",
                             help="Ratios of the sensitivity scans."),
    iterations: int = typer.Option(1, "--iterations",
                                   help="Reach the target in K scan/allocate/retrain steps."),
    weighting: str = typer.Option("uniform", "--weighting",
                                  help="uniform: one threshold T for every layer (classic); "
                                  "size: layer threshold T * n_L / max n_L."),
    layer_epochs: int = typer.Option(1, "--layer-epochs",
                                     help="Retraining epochs after each layer is pruned."),
    finetune_epochs: int = typer.Option(5, "--finetune-epochs",
                                        help="Global fine-tune epochs at the end of a step."),
    finetune_lr: float = FinetuneLr,
    train_limit: int | None = TrainLimit,
    seed: int = Seed,
    eval_limit: int | None = EvalLimit,
    test_limit: int | None = TestLimit,
    threads: int | None = Threads,
    quiet: bool = Quiet,
    data_dir: Path | None = DataDir,
    out: Path = out_option("runs/analysis/smart"),
    force: bool = Force,
) -> None:
    """Sensitivity-aware pruning to a target sparsity, layer-wise retraining and a global
    fine-tune; writes a pruned checkpoint (model.safetensors/.json) and smart.json/.md/.png.
    Scans and allocation use the validation split; the test set only the final accuracies."""
    from tinydeploy.analysis.smart import smart_prune

    _set_threads(threads)
    outcome = smart_prune(checkpoint=checkpoint, sparsity=sparsity, out=out, force=force,
                          method=method, grid=grid, iterations=iterations,
                          weighting=weighting,
                          layer_epochs=layer_epochs, finetune_epochs=finetune_epochs,
                          finetune_lr=finetune_lr, train_limit=train_limit,
                          eval_limit=eval_limit, test_limit=test_limit, data_dir=data_dir,
                          seed=seed,
                          show_progress=not quiet, log=None if quiet else typer.echo)
    typer.echo(f"{outcome.line()}; wrote {out}")


@app.command("robustness")
def robustness_cmd(
    checkpoint: Path = CheckpointOpt,
    sparsities: str = typer.Option("0,0.5,0.8,0.9", "--sparsities",
                                   help="Pruned variants (0 = dense is always included)."),
    eps: str = typer.Option("0.05,0.1,0.2", "--eps", help="L-inf epsilons (inputs in [0, 1])."),
    attacks: str = typer.Option("fgsm,pgd", "--attacks", help="fgsm and/or pgd."),
    pgd_steps: int = typer.Option(10, "--pgd-steps", help="PGD steps (alpha 2.5 eps/steps)."),
    method: str = Method,
    scope: str = Scope,
    finetune_epochs: int = typer.Option(0, "--finetune-epochs",
                                        help="Fine-tune each variant for N epochs."),
    finetune_lr: float = FinetuneLr,
    train_limit: int | None = TrainLimit,
    seed: int = Seed,
    test_limit: int | None = typer.Option(1000, "--eval-limit", "--test-limit",
                                          help="Attack the first N test images (final "
                                          "numbers; nothing is selected from them)."),
    threads: int | None = Threads,
    quiet: bool = Quiet,
    data_dir: Path | None = DataDir,
    out: Path = out_option("runs/analysis"),
    force: bool = Force,
) -> None:
    """FGSM / PGD accuracy of pruned variants vs the dense model, on test images (fine-tuning,
    if any, early-stops on the validation split)."""
    from tinydeploy.analysis import robustness as mod
    from tinydeploy.analysis.sensitivity import parse_grid

    levels = parse_grid(sparsities)
    epsilons = _floats(eps, "--eps")
    names = comma_separated(attacks)
    ctx = _prepare(checkpoint, out, mod, force, threads, data_dir, None, test_limit)
    data = mod.run(ctx, sweep_dir=out / "sweep", sparsities=levels, eps=epsilons,
                   attacks=names, pgd_steps=pgd_steps, method=method, scope=scope,
                   finetune_epochs=finetune_epochs, finetune_lr=finetune_lr,
                   train_limit=train_limit, seed=seed, data_dir=data_dir,
                   show_progress=not quiet)
    dense = data["variants"][0]
    _finish(mod, data, out, f"dense clean {dense['clean']:.2f}%, "
            + ", ".join(f"{a.upper()}@{epsilons[-1]:g} {dense[a][str(epsilons[-1])]:.2f}%"
                        for a in names))


@app.command("weights")
def weights_cmd(
    checkpoint: Path = CheckpointOpt,
    methods: str = typer.Option("magnitude,random,snip", "--methods", help="Criteria."),
    sparsities: str = typer.Option("0.5,0.8,0.9", "--sparsities", help="Sparsities."),
    scope: str = Scope,
    bins: int = typer.Option(60, "--bins", help="Histogram bins per layer."),
    seed: int = Seed,
    eval_limit: int | None = EvalLimit,
    threads: int | None = Threads,
    quiet: bool = Quiet,
    data_dir: Path | None = DataDir,
    out: Path = out_option("runs/analysis"),
    force: bool = Force,
) -> None:
    """Histograms of the surviving weights per layer, criterion and sparsity."""
    from tinydeploy.analysis import weights as mod
    from tinydeploy.analysis.sensitivity import parse_grid
    from tinydeploy.errors import TinydeployError

    levels = parse_grid(sparsities)
    names = comma_separated(methods)
    if not names or bins < 2:
        raise TinydeployError("give at least one method and --bins >= 2")
    ctx = _prepare(checkpoint, out, mod, force, threads, data_dir, eval_limit)
    data = mod.run(ctx, sweep_dir=out / "sweep", methods=names, sparsities=levels,
                   scope=scope, bins=bins, seed=seed, data_dir=data_dir,
                   eval_limit=eval_limit, show_progress=not quiet)
    _finish(mod, data, out, f"{len(data['variants'])} variants")
