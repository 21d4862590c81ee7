"""`tinydeploy export`: checkpoint -> ONNX -> int8 TFLite -> C arrays."""

from __future__ import annotations

from pathlib import Path

import typer

from tinydeploy.cli.options import DataDir, Force, out_option


def register(app: typer.Typer) -> None:
    app.command("export")(export_cmd)


def export_cmd(
    checkpoint: Path | None = typer.Option(
        None, "--checkpoint", "-c", help="Checkpoint (.safetensors, .json or run dir)."),
    onnx: Path | None = typer.Option(None, "--onnx", help="Start from an .onnx file instead."),
    tflite: Path | None = typer.Option(
        None, "--tflite", help="Start from an int8 .tflite instead (only --to c)."),
    to: str = typer.Option("c", "--to", help="onnx, tflite or c (c implies the earlier steps)."),
    sparse: str = typer.Option(
        "auto", "--sparse",
        help="Weight format: auto (smallest per layer), dense, csr, nm (best N:M per layer) "
        "or an explicit nm<N>_<M> such as nm2_4."),
    calib_images: int = typer.Option(
        500, "--calib-images", help="Training images used for int8 calibration."),
    eval_limit: int | None = typer.Option(
        None, "--eval-limit", help="Evaluate int8 accuracy on the first N test images "
        "(default: the whole test set)."),
    dataset: str | None = typer.Option(
        None, "--dataset", "-d", help="Dataset (default: the checkpoint's)."),
    data_dir: Path | None = DataDir,
    out: Path = out_option("runs/export"),
    force: bool = Force,
) -> None:
    """Export a model: ONNX (+ parity check), int8 TFLite (+ accuracy, zeros), C arrays."""
    from tinydeploy.export.pipeline import ExportConfig, export

    cfg = ExportConfig(to=to, sparse=sparse, calib_images=calib_images, eval_limit=eval_limit)
    result = export(out=out, cfg=cfg, checkpoint=checkpoint, onnx_path=onnx,
                    tflite_path=tflite, dataset=dataset, data_dir=data_dir, force=force,
                    log=typer.echo)
    typer.echo(f"export written to {result.out} (report: export_report.md)")
