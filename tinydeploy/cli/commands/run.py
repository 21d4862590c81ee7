"""`tinydeploy run`: the end-to-end pipeline."""

from __future__ import annotations

from pathlib import Path

import typer

from tinydeploy.cli.options import DataDir


def register(app: typer.Typer) -> None:
    app.command("run")(run_cmd)


def run_cmd(
    config: Path | None = typer.Argument(
        None, help="Run configuration (TOML). Default: the built-in TinyNet/MNIST run "
        "(tinydeploy/pipeline/default.toml)."
    ),
    out: Path = typer.Option(Path("runs/main"), "--out", "-o",
                             help="Run directory (stages are cached here by content hash)."),
    board: str | None = typer.Option(None, "--board", help="Override the config's board."),
    samples: int | None = typer.Option(
        None, "--samples", help="Override the number of test images run on the device."),
    fresh: bool = typer.Option(False, "--fresh",
                               help="Ignore cached stages (delete the run's stage cache)."),
    data_dir: Path | None = DataDir,
) -> None:
    """End to end: train, prune, fine-tune, export, build firmware, run on the target, report.

    Stages: train (or load) -> prune -> fine-tune -> ONNX -> int8 TFLite -> C -> firmware on
    the board (QEMU Cortex-M4 by default) -> report. Re-running skips every stage whose
    inputs did not change; an interrupted run resumes.
    """
    import dataclasses
    import shutil

    from tinydeploy.pipeline.config import load_config
    from tinydeploy.pipeline.runner import run_pipeline

    cfg = load_config(config)
    overrides = {k: v for k, v in (("board", board), ("samples", samples)) if v is not None}
    cfg = dataclasses.replace(cfg, **overrides)
    if fresh:
        shutil.rmtree(out / "stages", ignore_errors=True)
    run_pipeline(cfg, out, data_dir=data_dir)
