"""`tinydeploy train` and `tinydeploy eval`."""

from __future__ import annotations

from pathlib import Path

import typer

from tinydeploy.cli.options import DataDir, Force, out_option


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
    app.command("eval")(eval_cmd)


def train_cmd(
    dataset: str = typer.Option(
        "mnist", "--dataset", "-d",
        help="mnist, fashion-mnist, npz:PATH, folder:PATH, or a registered dataset name.",
    ),
    model: str = typer.Option(
        "tinynet", "--model", "-m",
        help="Built-in model name or a user model as package.module:ClassName.",
    ),
    epochs: int | None = typer.Option(None, "--epochs", help="Epochs (default: dataset recipe)."),
    lr: float | None = typer.Option(None, "--lr", help="Peak learning rate (default: recipe)."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Mini-batch size."),
    optimizer: str | None = typer.Option(None, "--optimizer", help="adamw, adam or sgd."),
    schedule: str | None = typer.Option(None, "--schedule", help="onecycle, cosine or constant."),
    label_smoothing: float | None = typer.Option(
        None, "--label-smoothing",
        help="Label smoothing in [0, 1) (default: recipe, 0.1 for MNIST and Fashion-MNIST; "
        "0 for a distillation teacher, whose soft targets smoothing would flatten).",
    ),
    val_size: int | None = typer.Option(
        None, "--val-size", help="Training images held out for validation (default 5000)."
    ),
    train_limit: int | None = typer.Option(
        None, "--train-limit", help="Train on only the first N training images (smoke runs)."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed -> same weights)."),
    data_dir: Path | None = DataDir,
    out: Path = out_option("runs/train"),
    force: bool = Force,
) -> None:
    """Train a model; writes model.safetensors, model.json (metadata) and eval.json."""
    from tinydeploy.train.recipes import recipe_for
    from tinydeploy.train.run import train_model

    cfg = recipe_for(
        dataset, epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer,
        schedule=schedule, label_smoothing=label_smoothing, val_size=val_size,
        train_limit=train_limit, seed=seed,
    )
    outcome = train_model(
        dataset_name=dataset, data_dir=data_dir, cfg=cfg, out=out, model_name=model, force=force
    )
    typer.echo(
        f"test accuracy {outcome.test.top1:.2f}% (top-5 {outcome.test.top5:.2f}%) "
        f"after {len(outcome.result.history)} epochs in {outcome.result.seconds:.0f}s; "
        f"checkpoint {outcome.checkpoint}"
    )


def eval_cmd(
    checkpoint: Path = typer.Argument(..., help="Checkpoint (.safetensors, .json or run dir)."),
    dataset: str | None = typer.Option(
        None, "--dataset", "-d", help="Dataset to evaluate on (default: the training dataset)."
    ),
    limit: int | None = typer.Option(None, "--limit", help="Evaluate the first N test images."),
    data_dir: Path | None = DataDir,
    json_out: Path | None = typer.Option(None, "--json", help="Also write the metrics as JSON."),
) -> None:
    """Evaluate a checkpoint: top-1/top-5, per-class accuracy and confusion matrix."""
    from rich.console import Console
    from rich.table import Table

    from tinydeploy.rundir import write_json_atomic
    from tinydeploy.train.run import evaluate_checkpoint

    result, meta = evaluate_checkpoint(checkpoint, data_dir, dataset, limit)
    console = Console()
    console.print(
        f"top-1 {result.top1:.2f}%  top-5 {result.top5:.2f}%  loss {result.loss:.4f}  "
        f"({result.num_samples} images, model {meta['model']['name']})"
    )
    table = Table("true \\ pred", *[str(i) for i in range(len(result.confusion))], "acc %")
    for i, row in enumerate(result.confusion):
        table.add_row(str(i), *[str(v) for v in row], f"{result.per_class[i]:.1f}")
    console.print(table)
    if json_out is not None:
        write_json_atomic(json_out, result.to_dict())
