"""The CLI end to end, in-process (exit codes and one-line errors) and as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tinydeploy.cli.main import main


def test_help_lists_every_command_and_each_has_help(capsys: pytest.CaptureFixture) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("train", "eval"):
        assert command in out
        assert main([command, "--help"]) == 0
        assert "Usage" in capsys.readouterr().out


def test_train_and_eval_through_the_cli(tmp_path: Path, data_dir, capsys) -> None:
    code = main(["train", "--epochs", "1", "--train-limit", "512", "--val-size", "200",
                 "--label-smoothing", "0", "--data-dir", str(data_dir), "--out", str(tmp_path)])
    assert code == 0
    assert "test accuracy" in capsys.readouterr().out
    # the option replaces the MNIST recipe's 0.1 (a distillation teacher trains without it)
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["train_config"]["label_smoothing"] == 0.0
    code = main(["eval", str(tmp_path), "--limit", "300", "--json", str(tmp_path / "e.json")])
    assert code == 0
    assert json.loads((tmp_path / "e.json").read_text())["num_samples"] == 300


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--data-dir", "/nonexistent/data"], "data directory /nonexistent/data"),
        (["train", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
        (["train", "--label-smoothing", "1"], "label smoothing must be in [0, 1), got 1.0"),
        (["train", "--model", "nowhere.mod:Net"], "cannot import model module 'nowhere.mod'"),
        (["eval", "/nonexistent/ckpt"], "not found"),
    ],
)
def test_bad_input_gives_one_line_error(args, message, capsys, tmp_path: Path) -> None:
    code = main([*args, "--out", str(tmp_path)] if args[0] == "train" else args)
    assert code != 0
    err = capsys.readouterr().err.strip()
    assert message in err
    assert err.startswith("error:") and len(err.splitlines()) == 1


def test_truncated_idx_via_cli(tmp_path: Path, data_dir: Path, capsys) -> None:
    bad = tmp_path / "data" / "mnist"
    bad.mkdir(parents=True)
    for f in (data_dir / "mnist").iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    labels = bad / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:100])
    code = main(["train", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "r")])
    assert code == 2
    assert "truncated" in capsys.readouterr().err


def test_console_script_runs_as_a_process() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tinydeploy.cli.main", "train", "--dataset", "nope"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "unknown dataset 'nope'" in proc.stderr
