"""The `tinydeploy` command.

Each subcommand lives in its own module under `tinydeploy.cli.commands` and registers itself
with `register(app)`. Command modules import only typer at import time; heavy libraries
(torch, TensorFlow) are imported inside the command bodies so `tinydeploy --help` is fast.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

from tinydeploy import __version__
from tinydeploy.cli import commands
from tinydeploy.errors import TinydeployError

app = typer.Typer(
    name="tinydeploy",
    help="Train, prune, export to int8 and benchmark small CNNs on Cortex-M (QEMU or boards).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"tinydeploy {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version."
    ),
) -> None:
    """tinydeploy: from a PyTorch model to instructions counted on a Cortex-M."""


for _info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
    importlib.import_module(f"{commands.__name__}.{_info.name}").register(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors become one line on stderr and exit code 2; bugs keep tracebacks."""
    try:
        # Without standalone mode click returns (not raises) typer.Exit's code, and leaves the
        # usage errors to us: typer's rich standalone handler would draw them as boxed panels.
        # prog_name is fixed so the usage hint names the command the user should type, not
        # "python -m ..." or the test runner.
        result = app(args=argv, prog_name="tinydeploy", standalone_mode=False)
    except TinydeployError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return 1
    except typer.TyperException as exc:
        # typer (0.29 here) vendors click as `typer._click`: its ClickException, UsageError,
        # BadParameter, NoSuchOption... derive from the public `typer.TyperException`, not from
        # the standalone `click` package's classes, so that is what must be caught here.
        show = getattr(exc, "show", None)
        if callable(show):  # UsageError: "Usage: ...", "Try '... --help' ...", "Error: ..."
            show()
        else:
            typer.echo(f"Error: {exc.format_message()}", err=True)
        return exc.exit_code
    if result == 130:  # typer turns Ctrl-C into Exit(130)
        typer.echo("interrupted", err=True)
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
