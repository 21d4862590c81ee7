"""Usage errors print click's usage hint and one `Error:` line on stderr, exit 2, no traceback.

The cases are collected from the real command tree (`typer.main.get_command(app)`), so a new
command or option is covered without editing this file: every option or argument that takes
a typed value (number, choice, must-exist path, ...) gets a malformed value, every command
(groups included) an unknown option, and every command with required parameters no arguments.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, get_args, get_origin
from uuid import UUID

import pytest
import typer.main

from tinydeploy.cli.main import app, main

MISSING_PATH = "no-such-dir-xyz/missing.file"
BAD_BY_TYPE: dict[type, str] = {
    int: "abc", float: "abc", bool: "maybe", datetime: "not-a-date", UUID: "not-a-uuid",
}


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]
    expect: tuple[str, ...]  # substrings of stderr besides the usage hint
    usage_hint: bool = True

    @property
    def id(self) -> str:
        return " ".join(self.argv) or "<no args>"


def _walk(cmd: Any, path: tuple[str, ...] = ()):
    """(path, command) for the root and every command and subcommand group below it."""
    yield path, cmd
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        yield from _walk(sub, (*path, name))


def _bad_value(param: Any) -> str | None:
    """A value the parameter's type rejects; None when the type takes any string.

    typer 0.29 does not give its parameters a click `ParamType`: the Python annotation (with
    Optional removed) and the typer.Option/Argument settings live in `param.type_descriptor`.
    Raises for a type this test does not know yet, so it cannot be skipped silently.
    """
    desc = param.type_descriptor
    annotation, info = desc.annotation, desc.parameter_info
    if desc.choices is not None:
        return "not-a-choice-xyz"
    if get_origin(annotation) is list:  # multiple=True / nargs=-1: one malformed item
        (annotation,) = get_args(annotation)
    if getattr(info, "parser", None) is not None or getattr(info, "click_type", None):
        return None  # a custom parser: no generic malformed value
    if annotation is str:
        return None
    if isinstance(annotation, type) and issubclass(annotation, Path):
        return MISSING_PATH if info.exists else None
    if annotation in BAD_BY_TYPE:
        return BAD_BY_TYPE[annotation]
    raise TypeError(f"{param.name}: no malformed value for {annotation!r}; extend _bad_value")


def _is_group(cmd: Any) -> bool:
    return bool(getattr(cmd, "commands", None))


def _bad_value_cases(tree) -> list[Case]:
    cases = []
    for path, cmd in tree:
        # a group's own options are parsed before its subcommand is looked up
        tail = (sorted(cmd.commands)[0],) if _is_group(cmd) else ()
        arguments = [p for p in cmd.params if p.param_type_name == "argument"]
        for param in cmd.params:
            if getattr(param, "is_flag", False):
                continue  # a flag takes no value
            bad = _bad_value(param)
            if bad is None:
                continue
            if param.param_type_name == "option":
                opt = next(o for o in param.opts if o.startswith("--"))
                argv = (*path, opt, bad, *tail)
                hint = opt
            else:  # earlier positional arguments get a placeholder
                before = ("x",) * arguments.index(param)
                argv = (*path, *before, bad)
                hint = param.metavar or param.name
            cases.append(Case(argv, ("Invalid value for", hint)))
    return cases


TREE = list(_walk(typer.main.get_command(app)))
BAD_VALUE_CASES = _bad_value_cases(TREE)
UNKNOWN_OPTION_CASES = [Case((*path, "--no-such-option-xyz"), ("No such option",))
                        for path, _ in TREE]
MISSING_CASES = [Case(path, ("Missing",)) for path, cmd in TREE
                 if not _is_group(cmd) and not cmd.no_args_is_help
                 and any(p.required for p in cmd.params)]
EXPLICIT_CASES = [
    Case(("doctorx",), ("No such command 'doctorx'",)),
    Case(("firmware", "nosuch"), ("No such command 'nosuch'",)),
    Case(("prune", "--checkpoint", "c.json", "--no-such-option"), ("No such option",)),
    # click's parser raises this one without a context, so click (standalone mode included)
    # prints only the `Error:` line: there is no usage line to show
    Case(("prune", "--sparsity"), ("Option '--sparsity' requires an argument",),
         usage_hint=False),
    Case(("prune", "--sparsity", "abc"), ("Invalid value for '--sparsity'",)),
]
ALL_CASES = BAD_VALUE_CASES + UNKNOWN_OPTION_CASES + MISSING_CASES + EXPLICIT_CASES


def _assert_usage_error(code: int, out: str, err: str, cwd: Path, expect: tuple[str, ...],
                        usage_hint: bool = True):
    assert "Traceback" not in out + err, err
    assert code == 2, (code, out, err)
    assert out == ""
    if usage_hint:
        assert "Usage: tinydeploy" in err, err
        assert "Try 'tinydeploy" in err and "--help' for help." in err, err
    assert any(line.startswith("Error: ") for line in err.splitlines()), err
    for needle in expect:
        assert needle in err, (needle, err)
    assert not list(cwd.iterdir()), "a usage error wrote into the current directory"


def test_the_walk_found_the_command_tree():
    paths = {path for path, _ in TREE}
    assert {("prune",), ("firmware",), ("firmware", "run"), ("analyze", "smart")} <= paths
    assert len(BAD_VALUE_CASES) > 30, [c.id for c in BAD_VALUE_CASES]
    assert ("prune", "--sparsity", "abc") in {c.argv for c in BAD_VALUE_CASES}


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_usage_error(case: Case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(list(case.argv))
    captured = capsys.readouterr()
    _assert_usage_error(code, captured.out, captured.err, tmp_path, case.expect,
                        case.usage_hint)


def test_console_script_usage_error(tmp_path):
    script = Path(sys.executable).with_name("tinydeploy")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "tinydeploy.cli.main"]
    proc = subprocess.run([*cmd, "prune", "--sparsity", "abc"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_COLOR": "1"})
    _assert_usage_error(proc.returncode, proc.stdout, proc.stderr, tmp_path,
                        ("Invalid value for '--sparsity'",))
