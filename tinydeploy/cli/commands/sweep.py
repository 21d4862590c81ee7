"""`tinydeploy sweep CONFIG.toml` (= `sweep run`) and `tinydeploy sweep status DIR`.

A sweep runs every trial of a TOML grid (format: `tinydeploy.sweep.config`) locally (an
in-process loop or a process pool) or on Ray, resumably: finished trials are skipped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup


def _failed(message: str, code: int = 1) -> Exception:
    """A one-line error that ends the command with exit status `code`."""
    from tinydeploy.errors import TinydeployError

    exc = TinydeployError(message)
    exc.exit_code = code
    return exc


class _RunByDefault(TyperGroup):
    """`tinydeploy sweep config.toml ...` means `tinydeploy sweep run config.toml ...`."""

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=_RunByDefault, no_args_is_help=True,
    help="Run a grid of trials (TOML config) locally or on Ray, resumably; show its status. "
    "`tinydeploy sweep CONFIG.toml` is short for `tinydeploy sweep run CONFIG.toml`.")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="sweep")


@app.command("run")
def run_cmd(
    config: Path = typer.Argument(..., help="Sweep config (TOML): fn, [fixed], [grid], ..."),
    executor: str = typer.Option("local", "--executor", "-e", help="local or ray."),
    workers: int | None = typer.Option(
        None, "--workers", "-w",
        help="local: worker processes (0: in-process; default: one per core / cpus per "
        "trial). ray: trials in flight (default: what the cluster's CPUs hold)."),
    ray_address: str | None = typer.Option(
        None, "--ray-address",
        help="Ray cluster to use: auto (the one started on this machine by `ray start`) or "
        "host:port. Default: $RAY_ADDRESS, else a private local instance."),
    ray_cpus: int | None = typer.Option(
        None, "--ray-cpus", help="CPUs of the private local Ray instance (default: the cores)."),
    cpus_per_trial: int | None = typer.Option(
        None, "--cpus-per-trial", help="CPUs (= torch threads) per trial (default: config, 1)."),
    gpus_per_trial: float | None = typer.Option(
        None, "--gpus-per-trial", help="GPUs per trial, Ray only (default: config, 0)."),
    sweep_dir: Path | None = typer.Option(
        None, "--dir", "-d", help="Sweep directory (default: config's dir, else "
        "runs/sweeps/<config name>)."),
    retries: int | None = typer.Option(
        None, "--retries", help="Extra attempts for a trial that raised (default: config, 1)."),
    sets: list[str] = typer.Option(
        [], "--set", help="Override a fixed parameter: key=value (JSON or string); repeatable."),
    axes: list[str] = typer.Option(
        [], "--grid", help="Override a grid axis: key=v1,v2,...; repeatable."),
    skip_failed: bool = typer.Option(
        False, "--skip-failed", help="Do not re-run trials an earlier run recorded as failed."),
    list_only: bool = typer.Option(False, "--list", help="Print the trials and exit."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Run every trial of CONFIG not done yet (exit 1: failures; 130: interrupted, re-run)."""
    from tinydeploy.errors import TinydeployError
    from tinydeploy.sweep import make_executor, run_sweep
    from tinydeploy.sweep.config import load_config

    cfg = load_config(config)
    if sets or axes:
        cfg = cfg.with_overrides(sets, axes)
    trials = cfg.trials()
    out = sweep_dir or cfg.dir
    if list_only:
        for t in trials:
            typer.echo(f"{t.id}  {_params_text(t.to_dict()['params'])}")
        typer.echo(f"{len(trials)} trials -> {out}")
        return
    if executor == "ray" and ray_address is None:
        ray_address = os.environ.get("RAY_ADDRESS") or None
    if executor != "ray" and ray_cpus is not None:
        raise TinydeployError("--ray-cpus needs --executor ray")
    ex = make_executor(executor, workers=workers,
                       cpus_per_trial=cpus_per_trial or cfg.cpus_per_trial,
                       gpus_per_trial=cfg.gpus_per_trial if gpus_per_trial is None
                       else gpus_per_trial,
                       ray_address=ray_address, ray_cpus=ray_cpus)
    typer.echo(f"sweep {cfg.description}: {len(trials)} trials in {out} on {ex.describe()}")
    try:
        with ex:
            summary = run_sweep(trials, out, executor=ex,
                                retries=cfg.retries if retries is None else retries,
                                retry_failed=not skip_failed, show_progress=not quiet,
                                log=typer.echo, description=cfg.description)
    except KeyboardInterrupt:
        raise _failed(f"interrupted; finished trials are kept in {out}: run the same command "
                      "again to resume", code=130) from None
    typer.echo(f"{summary.line()} in {summary.seconds:.1f} s")
    for tid in summary.failed:
        rec = summary.records[tid]
        typer.echo(f"  failed {tid} ({rec.get('attempts', '?')} attempts): {rec.get('error')}",
                   err=True)
    if summary.failed:
        raise _failed(f"{len(summary.failed)} of {summary.total} trials failed; tracebacks in "
                      f"{out}/trials/<id>.json (`tinydeploy sweep status {out}`)")


def _params_text(params: dict[str, Any], keys: list[str] | None = None) -> str:
    keys = list(params) if keys is None else keys
    return " ".join(f"{k}={params.get(k)}" for k in keys)


def _scalars(result: Any, limit: int = 3) -> str:
    """A few scalar entries of a trial's result (any JSON value) for the status table."""
    if result is None:
        return ""
    if not isinstance(result, dict):
        return str(result)[:60]
    items = [(k, v) for k, v in result.items() if isinstance(v, int | float | str | bool)]
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in items[:limit])


@app.command("status")
def status_cmd(
    sweep_dir: Path = typer.Argument(..., help="Sweep directory."),
    trials: bool = typer.Option(True, "--trials/--no-trials", help="Per-trial table."),
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
) -> None:
    """Summarise a running or finished sweep: counts, times, errors (exit 1: failures)."""
    import json

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from tinydeploy.sweep.status import sweep_status, varying_params

    st = sweep_status(sweep_dir)
    if as_json:
        typer.echo(json.dumps(st, indent=1))
        if st["counts"]["failed"]:
            raise _failed(f"{st['counts']['failed']} trials failed")
        return
    console = Console(width=max(100, Console().width))
    c = st["counts"]
    console.print(f"sweep {st['dir']}: {st['total']} trials: {c['ok']} done, "
                  f"{c['failed']} failed, {c['running']} running, {c['pending']} pending",
                  highlight=False, soft_wrap=True)
    if st["driver"]:
        d = st["driver"]
        console.print(f"driver: {d['status']} (pid {d['pid']} on {d['host']}, {d['executor']}, "
                      f"started {d['started']}, updated {d['updated']})",
                      highlight=False, soft_wrap=True)
    if st["trial_seconds_mean"] is not None:
        console.print(f"trial time: total {st['trial_seconds_total']:.1f} s, mean "
                      f"{st['trial_seconds_mean']:.1f} s", highlight=False, soft_wrap=True)
    rows = st["rows"]
    if trials and rows:
        keys = varying_params(rows)
        table = Table(show_edge=False, pad_edge=False)
        for col in ("id", "status", *keys, "s", "tries", "result / error"):
            table.add_column(col, overflow="fold")
        for r in rows:
            detail = r["error"] or _scalars(r["result"]) or (
                f"since {r['started']}" if r["started"] else "")
            table.add_row(r["id"], r["status"],
                          *(escape(str(r["params"].get(k))) for k in keys),
                          "" if r["seconds"] is None else f"{r['seconds']:.1f}",
                          "" if r["attempts"] is None else str(r["attempts"]), escape(detail))
        console.print(table)
    failed = [r for r in rows if r["status"] == "failed"]
    for r in failed:
        console.print(f"[red]failed[/red] {r['id']}: {escape(r['error'] or '')}",
                      highlight=False, soft_wrap=True)
    if failed:
        raise _failed(f"{len(failed)} of {st['total']} trials failed")
