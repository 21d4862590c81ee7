"""`tinydeploy analyze`: bad input exits non-zero with one line on stderr."""

from __future__ import annotations

import pytest

from tinydeploy.cli.main import main


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_missing_checkpoint(tmp_path, capsys):
    code = main(["analyze", "sensitivity", "-c", str(tmp_path / "nope"), "-o", str(tmp_path)])
    assert code != 0
    assert "not found" in _one_line_error(capsys)


@pytest.mark.parametrize("args, needle", [
    (["sensitivity", "--grid", "0:2:0.5"], "grid"),
    (["cliff", "--scope", "sideways"], "scope"),
    (["robustness", "--attacks", "cw"], "attack"),
    (["gap", "--bootstrap", "1"], "bootstrap"),
    (["smart", "--sparsity", "1.5"], "sparsity"),
    (["weights", "--methods", "astrology"], "method"),
    (["sensitivity", "--eval-limit", "0"], "eval-limit"),
])
def test_bad_options(checkpoint, tmp_path, capsys, args, needle):
    code = main(["analyze", *args, "-c", str(checkpoint), "-o", str(tmp_path / "out"),
                 "-q", "--eval-limit" if "--eval-limit" not in args else "--seed", "100"
                 if "--eval-limit" not in args else "0"])
    assert code != 0
    assert needle in _one_line_error(capsys)


def test_existing_report_needs_force(checkpoint, tmp_path, capsys):
    (tmp_path / "cliff.json").write_text("{}")
    code = main(["analyze", "cliff", "-c", str(checkpoint), "-o", str(tmp_path), "-q"])
    assert code != 0
    assert "--force" in _one_line_error(capsys)


def test_weights_end_to_end(checkpoint, tmp_path, capsys):
    code = main(["analyze", "weights", "-c", str(checkpoint), "-o", str(tmp_path), "-q",
                 "--methods", "magnitude,random", "--sparsities", "0.8", "--eval-limit", "100"])
    assert code == 0
    assert (tmp_path / "weights_histograms.png").exists()
    assert "2 variants" in capsys.readouterr().out


def test_workers_give_the_same_scan(checkpoint, tmp_path):
    """`analyze --workers 2` sends the scan's trials to a process pool: same numbers."""
    import json
    import os

    args = ["sensitivity", "-c", str(checkpoint), "--grid", "0,0.6", "--layers", "fc2, ",
            "--eval-limit", "200", "-q"]
    assert main(["analyze", *args, "-o", str(tmp_path / "inproc")]) == 0
    assert main(["analyze", "--workers", "2", *args, "-o", str(tmp_path / "pool")]) == 0
    a = json.loads((tmp_path / "inproc" / "sensitivity.json").read_text())
    b = json.loads((tmp_path / "pool" / "sensitivity.json").read_text())
    assert a["per_ratio"] == b["per_ratio"] and a["baseline_accuracy"] == b["baseline_accuracy"]
    assert a["config"]["layers"] == ["fc2"]  # "fc2, ": items stripped, blanks dropped
    records = [json.loads(p.read_text()) for p in (tmp_path / "pool" / "sweep").rglob("*.json")
               if p.parent.name == "trials"]
    assert records and all(r["pid"] != os.getpid() for r in records)  # ran in the pool
