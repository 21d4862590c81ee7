"""`tinydeploy report`: regenerate a run's report from its JSON, or compare two runs."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)


def report_cmd(
    run_dirs: list[Path] = typer.Argument(..., help="Run directory (or report.json) to render."),
    compare: bool = typer.Option(
        False, "--compare", help="Show two runs side by side (give exactly two run directories)."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Where to write the report (default: the run's report/ folder)."
    ),
) -> None:
    """Render report.md / report.html (+ plots) from a run's report.json."""
    from tinydeploy.errors import TinydeployError
    from tinydeploy.report import compare_markdown, load_report, write_report
    from tinydeploy.rundir import write_text_atomic

    if compare:
        if len(run_dirs) != 2:
            raise TinydeployError("--compare needs exactly two run directories")
        text = compare_markdown(load_report(_report_path(run_dirs[0])),
                                load_report(_report_path(run_dirs[1])))
        typer.echo(text)
        if out is not None:
            write_text_atomic(out, text)
        return
    if len(run_dirs) != 1:
        raise TinydeployError("give one run directory (or use --compare with two)")
    path = _report_path(run_dirs[0])
    target = out or path.parent
    written = write_report(load_report(path), target)
    typer.echo(f"report written: {written['html']} and {written['markdown']}")


def _report_path(run_dir: Path) -> Path:
    for candidate in (run_dir, run_dir / "report.json", run_dir / "report" / "report.json"):
        if candidate.is_file():
            return candidate
    return run_dir / "report" / "report.json"
