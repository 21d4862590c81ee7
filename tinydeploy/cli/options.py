"""Options shared by several subcommands, so they read and behave the same everywhere."""

from __future__ import annotations

from pathlib import Path

import typer

DataDir = typer.Option(
    None, "--data-dir",
    help="Folder holding the dataset files (directly or in a <dataset>/ sub-folder). "
    "Default: $TINYDEPLOY_DATA, then ~/.cache/tinydeploy/datasets, then system folders; "
    "downloads (checksum-verified) when nothing is found.",
)
Force = typer.Option(False, "--force", help="Overwrite existing results in the output directory.")
Seed = typer.Option(0, "--seed", help="Random seed (same seed -> same result on this machine).")
FinetuneLr = typer.Option(1e-4, "--finetune-lr", help="Fine-tune Adam lr.")
TrainLimit = typer.Option(None, "--train-limit",
                          help="Fine-tune (retrain) on the first N training images.")


def out_option(default: str) -> Path:
    return typer.Option(Path(default), "--out", "-o", help="Run directory to write results into.")


def comma_separated(text: str | None) -> list[str]:
    """'a, b,,c' -> ['a', 'b', 'c']: the items of a comma-separated option, blanks dropped
    (an option left unset, None, has none)."""
    return [item.strip() for item in (text or "").split(",") if item.strip()]
