"""The entry point keeps every exit status: typer.Exit codes, Ctrl-C (130), user errors (2)."""

from __future__ import annotations

import pytest
import typer

from tinydeploy.cli.main import app, main


@pytest.fixture
def probe_command():
    """A temporary `exit-probe CODE` command: raises typer.Exit(CODE), or Ctrl-C for -1."""

    def exit_probe(code: int) -> None:
        if code < 0:
            raise KeyboardInterrupt
        raise typer.Exit(code)

    app.command("exit-probe")(exit_probe)
    yield
    app.registered_commands[:] = [c for c in app.registered_commands
                                  if c.name != "exit-probe"]


@pytest.mark.parametrize("code", [0, 1, 3])
def test_typer_exit_code_is_returned(probe_command, code):
    assert main(["exit-probe", str(code)]) == code


def test_ctrl_c_is_130(probe_command, capsys):
    assert main(["exit-probe", "--", "-1"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_user_error_is_2(capsys):
    assert main(["firmware", "run", "--board", "no-such-board", "--model-dir", "."]) == 2
    assert "unknown board" in capsys.readouterr().err
