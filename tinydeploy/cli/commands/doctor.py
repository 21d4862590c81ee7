"""`tinydeploy doctor`: is this machine ready? One table, each missing piece with its fix."""

from __future__ import annotations

import json

import typer


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor_cmd)


def doctor_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
) -> None:
    """Check the cross compiler, newlib nano, QEMU and each board's machine, PlatformIO, the
    host compiler, the Python stack, the report browser and the datasets. Exit 1 when a
    required piece is missing (optional ones are listed with their fix but do not fail)."""
    from dataclasses import asdict

    from tinydeploy.doctor.checks import run_all

    findings = run_all()
    if as_json:
        typer.echo(json.dumps([asdict(f) for f in findings], indent=1))
    else:
        _table(findings)
    failed = [f for f in findings if f.required and not f.ok]
    if failed:
        typer.secho(f"{len(failed)} required piece(s) missing: run the fix shown above",
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


def _table(findings: list) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="tinydeploy doctor", title_justify="left")
    table.add_column("")
    table.add_column("what", no_wrap=True)
    table.add_column("found (or the fix)", overflow="fold")
    for f in findings:
        mark = "[green]✓[/]" if f.ok else ("[red]✗[/]" if f.required else "[yellow]![/]")
        found = escape(f.detail) + (f"\n[bold]fix:[/] {escape(f.fix)}" if f.fix else "")
        table.add_row(mark, f.topic + ("" if f.required else " (optional)"), found)
    Console(width=max(110, Console().width)).print(table)
