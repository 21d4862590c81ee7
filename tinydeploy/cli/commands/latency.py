"""`tinydeploy latency table`: measured per-layer cost tables of a model on a QEMU core."""

from __future__ import annotations

from pathlib import Path

import typer

from tinydeploy.cli.options import comma_separated


def register(app: typer.Typer) -> None:
    lat = typer.Typer(help="Measured per-layer latency (instructions retired on QEMU).",
                      no_args_is_help=True)
    lat.command("table")(table_cmd)
    app.add_typer(lat, name="latency")


def _floats(text: str) -> list[float]:
    try:
        values = [float(v) for v in comma_separated(text)]
    except ValueError as exc:
        raise typer.BadParameter(f"expected comma-separated numbers, got {text!r}") from exc
    if not values or not all(0.0 <= v < 1.0 for v in values):
        raise typer.BadParameter(f"sparsities must be in [0, 1), got {text!r}")
    return values


def table_cmd(
    tflite: Path = typer.Option(..., "--tflite", exists=True, dir_okay=False,
                                help="The int8 model whose layer shapes are measured."),
    board: str = typer.Option("qemu-m4", "--board", "-b", help="A QEMU board profile."),
    formats: str | None = typer.Option(
        None, "--formats", help="Comma-separated formats (default: every format the kernels "
        "run for each layer: dense, csr, csrd for wide FC, nm2_4 nm1_4 nm2_8 nm1_8 nm1_16)."),
    sparsities: str = typer.Option(
        "0,0.5,0.7,0.8,0.9,0.95,0.98,0.99", "--sparsities",
        help="Measured sparsities of the unstructured formats (csr, csrd)."),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="Where measured points are kept (default "
        "$XDG_CACHE_HOME/tinydeploy/latency/<board>); each point is measured once."),
    workers: int = typer.Option(0, "--workers", help="Parallel builds (0: in-process)."),
    opt: str = typer.Option("O2", "--opt", help="GCC optimisation level of the builds."),
    synthetic: bool = typer.Option(
        False, "--synthetic", help="Measure synthetic layers of the model's shapes (shared "
        "by every model with those shapes) instead of the model's own int8 layers."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the table as JSON."),
) -> None:
    """Measure (or read from the cache) instructions per layer x format x sparsity for the
    model's real layer shapes, and print the table."""
    from rich.console import Console
    from rich.table import Table

    from tinydeploy.firmware.requirements import require_firmware_build, require_qemu
    from tinydeploy.ir import read_tflite
    from tinydeploy.latency.shapes import layer_params, layer_shapes
    from tinydeploy.latency.table import build_table, write_table
    from tinydeploy.sweep import LocalExecutor

    grid = _floats(sparsities)
    require_firmware_build()
    require_qemu(board)
    graph = read_tflite(tflite)
    shapes = layer_shapes(graph)
    wanted = comma_separated(formats) or None
    table = build_table(shapes, board, params=None if synthetic else layer_params(graph),
                        formats=wanted, sparsities=grid, opt=opt, cache_dir=cache_dir,
                        executor=LocalExecutor(workers=workers))
    view = Table(title=f"{tflite.name} on {board}: {table.unit} per layer", title_justify="left")
    view.add_column("layer")
    view.add_column("format")
    view.add_column("sparsity -> instructions", overflow="fold")
    for (name, fmt), row in table.points.items():
        cells = "  ".join(f"{sp:.2f}: {v:,.0f}" for sp, v in row)
        view.add_row(f"{name} ({shapes[name].label()})", fmt, cells)
    Console(width=max(110, Console().width)).print(view)
    if out is not None:
        write_table(table, out)
        typer.echo(f"wrote {out}")
