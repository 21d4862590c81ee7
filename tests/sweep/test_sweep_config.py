"""Sweep configs (TOML -> trials), `make_executor`, and the `tinydeploy sweep` CLI (local)."""

from __future__ import annotations

import json
import sys

import pytest

from tinydeploy.cli.main import main
from tinydeploy.errors import TinydeployError
from tinydeploy.sweep import LocalExecutor, Trial, make_executor, run_sweep
from tinydeploy.sweep.config import load_config, parse_config

FNS = "sweep_trialfns"


def _write(path, text):
    path.write_text(text)
    return path


def test_config_grid_extra_and_overrides(tmp_path):
    cfg = load_config(_write(tmp_path / "study.toml", f"""
fn = "{FNS}:square"
retries = 2
[fixed]
log = "calls.txt"
[grid]
x = [1, 2, 3]
mode = ["a", "b"]
[[extra]]
x = 10
"""))
    assert cfg.dir.as_posix() == "runs/sweeps/study" and cfg.description == "study"
    assert cfg.retries == 2
    trials = cfg.trials()
    assert len(trials) == 7 and len({t.id for t in trials}) == 7
    assert trials[0] == Trial(f"{FNS}:square", {"log": "calls.txt", "x": 1, "mode": "a"})
    assert trials[-1].params == {"log": "calls.txt", "x": 10}
    more = cfg.with_overrides(sets=["log=other.txt", "mode=\"c\""], axes=["x=1,2.5,[1]"])
    assert [dict(t.params) for t in more.trials()[:3]] == [
        {"log": "other.txt", "mode": "c", "x": 1}, {"log": "other.txt", "mode": "c", "x": 2.5},
        {"log": "other.txt", "mode": "c", "x": [1]}]


@pytest.mark.parametrize(("data", "message"), [
    ({"fn": f"{FNS}:square", "grid": {"x": [1]}, "sweeep": 1}, "unknown key.*'sweeep'"),
    ({"fn": f"{FNS}:square", "grid": {"x": []}}, "grid axis 'x'.*is empty"),
    ({"fn": f"{FNS}:square", "grid": {"x": 3}}, "must be a list"),
    ({"fn": f"{FNS}:square"}, "no trials"),
    ({"fn": f"{FNS}:square", "fixed": {"x": 1}, "grid": {"x": [1]}}, "x in both"),
    ({"grid": {"x": [1]}}, "needs fn"),
    ({"fn": "square", "grid": {"x": [1]}}, "package.module:function"),
    ({"fn": "no_such_module_xyz:f", "grid": {"x": [1]}}, "cannot import.*no_such_module"),
    ({"fn": f"{FNS}:no_such_fn", "grid": {"x": [1]}}, "not found"),
    ({"fn": f"{FNS}:square", "grid": {"x": [1]}, "retries": -1}, "retries"),
    ({"fn": f"{FNS}:square", "extra": {"x": 1}}, r"\[\[extra\]\]"),
])
def test_bad_configs_are_clear_errors(data, message):
    with pytest.raises(TinydeployError, match=message):
        parse_config(data)


def test_bad_toml_and_missing_file(tmp_path):
    with pytest.raises(TinydeployError, match="not valid TOML"):
        load_config(_write(tmp_path / "bad.toml", "fn = \n"))
    with pytest.raises(TinydeployError, match="not found"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(TinydeployError, match="--grid wants key=value"):
        parse_config({"fn": f"{FNS}:square", "grid": {"x": [1]}}).with_overrides(axes=["x"])


def test_make_executor_options():
    with pytest.raises(TinydeployError, match="unknown executor 'slurm'"):
        make_executor("slurm")
    with pytest.raises(TinydeployError, match="needs --executor ray"):
        make_executor("local", ray_address="auto")
    with make_executor("local", workers=0, cpus_per_trial=1) as ex:
        assert isinstance(ex, LocalExecutor) and (ex.workers, ex.threads, ex.seed) == (0, 1, True)


def test_missing_ray_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(TinydeployError, match=r"pip install 'tinydeploy\[ray\]'"):
        make_executor("ray")


def test_trials_are_seeded_and_threaded_the_same_in_process_and_in_a_pool(tmp_path):
    import torch

    trials = [Trial(f"{FNS}:rng_draws", {"k": k}) for k in range(3)]
    threads = torch.get_num_threads()
    with make_executor("local", workers=0) as ex:
        a = run_sweep(trials, tmp_path / "a", executor=ex, show_progress=False)
    assert torch.get_num_threads() == threads  # restored after in-process trials
    with make_executor("local", workers=2) as ex:
        b = run_sweep(trials, tmp_path / "b", executor=ex, show_progress=False)
    results = [[s.records[t.id]["result"] for t in trials] for s in (a, b)]
    assert results[0] == results[1] and results[0][0]["threads"] == 1
    assert results[0][0] != results[0][1]  # seeded per trial, not one global seed


def test_cli_run_status_and_failures(tmp_path, capsys):
    log = tmp_path / "calls.txt"
    good = _write(tmp_path / "good.toml", f"""
fn = "{FNS}:square"
dir = "{tmp_path / 'good'}"
[fixed]
log = "{log}"
[grid]
x = [1, 2, 3]
""")
    assert main(["sweep", str(good), "--workers", "0", "--list"]) == 0
    assert "3 trials" in capsys.readouterr().out
    assert main(["sweep", str(good), "--workers", "0", "-q"]) == 0  # short form of `run`
    out = capsys.readouterr().out
    assert "3 trials: 0 already done, 3 run, 0 failed" in out
    assert main(["sweep", "run", str(good), "-w", "0", "-q", "--grid", "x=3,4"]) == 0
    assert "2 trials: 1 already done, 1 run, 0 failed" in capsys.readouterr().out
    assert log.read_text().split() == ["1", "2", "3", "4"]

    assert main(["sweep", "status", str(tmp_path / "good")]) == 0
    out = capsys.readouterr().out
    assert "4 trials: 4 done, 0 failed, 0 running, 0 pending" in out
    assert "driver: finished" in out and "y=16" in out and "mean" in out

    bad = _write(tmp_path / "bad.toml", f"""
fn = "{FNS}:fails_for_seven"
dir = "{tmp_path / 'bad'}"
retries = 1
[fixed]
log = "{log}"
[grid]
x = [7, 8]
""")
    # a raising trial is retried, then recorded failed; the rest of the sweep still runs
    assert main(["sweep", str(bad), "-w", "0", "-q"]) == 1
    captured = capsys.readouterr()
    assert "2 trials: 0 already done, 1 run, 1 failed" in captured.out
    assert "retrying" in captured.out and "ValueError: bad x 7" in captured.err
    assert "1 of 2 trials failed" in captured.err
    assert log.read_text().split()[4:] == ["7", "7", "8"]
    failed = Trial(f"{FNS}:fails_for_seven", {"log": str(log), "x": 7})
    record = json.loads((tmp_path / "bad" / "trials" / f"{failed.id}.json").read_text())
    assert record["status"] == "failed" and record["attempts"] == 2
    assert "Traceback" in record["traceback"] and "always_fails" in record["traceback"]

    assert main(["sweep", "status", str(tmp_path / "bad"), "--json"]) == 1
    status = json.loads(capsys.readouterr().out)
    assert status["counts"] == {"ok": 1, "failed": 1, "running": 0, "pending": 0}
    assert main(["sweep", "status", str(tmp_path)]) == 2
    assert "not a sweep directory" in capsys.readouterr().err


def test_cli_bad_config_exit_code(tmp_path, capsys):
    cfg = _write(tmp_path / "c.toml", f'fn = "{FNS}:square"\n[grid]\nx = []\n')
    assert main(["sweep", str(cfg)]) == 2
    assert "grid axis 'x'" in capsys.readouterr().err


@pytest.mark.parametrize("workers", [0, 2])
def test_status_of_a_running_sweep(tmp_path, workers):
    sweep = tmp_path / "sw"
    trials = [Trial(f"{FNS}:status_probe", {"dir": str(sweep), "k": k}) for k in range(3)]
    with make_executor("local", workers=workers) as ex:
        summary = run_sweep(trials, sweep, executor=ex, show_progress=False)
    seen = [summary.records[t.id]["result"] for t in trials]
    assert all(s["driver"] == "running" for s in seen)
    # each trial sees itself running and every trial accounted for (with a pool, others may
    # already be done when this one's probe runs)
    for k, s in enumerate(seen):
        assert k in s["running"] and sum(s["counts"].values()) == 3
        assert s["counts"]["running"] == len(s["running"])
    if workers == 0:  # one at a time, in order
        assert [s["counts"]["ok"] for s in seen] == [0, 1, 2]
        assert [s["running"] for s in seen] == [[0], [1], [2]]
