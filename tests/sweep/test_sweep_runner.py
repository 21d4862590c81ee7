from __future__ import annotations

import json

import pytest

from tinydeploy.errors import TinydeployError
from tinydeploy.sweep import LocalExecutor, Trial, grid, load_results, run_sweep

FNS = "sweep_trialfns"


def _lines(path):
    return path.read_text().splitlines() if path.exists() else []


def test_trial_id_is_a_hash_of_canonical_json():
    a = Trial(f"{FNS}:square", {"x": 1, "log": "l", "nested": {"b": 1, "a": (1, 2)}})
    b = Trial(f"{FNS}:square", {"nested": {"a": [1, 2], "b": 1}, "log": "l", "x": 1})
    assert a.id == b.id and len(a.id) == 12 and len({a, b}) == 1
    assert Trial(f"{FNS}:square", {"x": 2}).id != a.id
    with pytest.raises(TinydeployError):
        Trial("no_colon")
    with pytest.raises(TinydeployError, match="JSON"):
        Trial(f"{FNS}:square", {"x": object()})


def test_resume_skips_finished_trials(tmp_path):
    log = tmp_path / "calls.txt"
    trials = grid(f"{FNS}:square", {"log": str(log)}, x=[1, 2, 3])
    first = run_sweep(trials, tmp_path / "sw", show_progress=False)
    assert (first.succeeded, first.skipped, first.exit_code) == (3, 0, 0)
    rec = json.loads((tmp_path / "sw" / "trials" / f"{trials[1].id}.json").read_text())
    assert rec["status"] == "ok" and rec["result"] == {"y": 4} and rec["attempts"] == 1
    again = run_sweep([*trials, *grid(f"{FNS}:square", {"log": str(log)}, x=[4])],
                      tmp_path / "sw", show_progress=False)
    assert (again.succeeded, again.skipped) == (1, 3)
    assert _lines(log) == ["1", "2", "3", "4"]  # nothing recomputed
    assert len(load_results(tmp_path / "sw")) == 4
    assert len(json.loads((tmp_path / "sw" / "sweep.json").read_text())["trials"]) == 4


def test_failing_trial_is_retried_then_recorded(tmp_path):
    log = tmp_path / "calls.txt"
    bad = Trial(f"{FNS}:always_fails", {"x": 7, "log": str(log)})
    good = Trial(f"{FNS}:square", {"x": 2, "log": str(log)})
    summary = run_sweep([bad, good], tmp_path / "sw", retries=2, show_progress=False)
    assert summary.failed == [bad.id] and summary.exit_code == 1 and not summary.ok
    assert _lines(log).count("7") == 3  # 1 + 2 retries
    rec = json.loads((tmp_path / "sw" / "trials" / f"{bad.id}.json").read_text())
    assert rec["status"] == "failed" and rec["attempts"] == 3
    assert "ValueError: bad x 7" in rec["error"] and "Traceback" in rec["traceback"]


def test_transient_failure_recovers_within_retries(tmp_path):
    log = tmp_path / "calls.txt"
    trial = Trial(f"{FNS}:fails_first_time", {"x": 1, "log": str(log)})
    summary = run_sweep([trial], tmp_path / "sw", retries=1, show_progress=False)
    assert summary.ok and summary.records[trial.id]["attempts"] == 2


def test_failed_trials_rerun_on_resume_unless_told_not_to(tmp_path):
    log = tmp_path / "calls.txt"
    bad = Trial(f"{FNS}:always_fails", {"x": 5, "log": str(log)})
    run_sweep([bad], tmp_path / "sw", retries=0, show_progress=False)
    kept = run_sweep([bad], tmp_path / "sw", retries=0, retry_failed=False,
                     show_progress=False)
    assert kept.skipped == 1 and kept.failed == [bad.id] and _lines(log) == ["5"]
    run_sweep([bad], tmp_path / "sw", retries=0, show_progress=False)
    assert _lines(log) == ["5", "5"]


def test_process_pool_executor(tmp_path):
    log = tmp_path / "calls.txt"
    trials = grid(f"{FNS}:square", {"log": str(log)}, x=[1, 2, 3])
    with LocalExecutor(workers=2) as ex:
        summary = run_sweep(trials, tmp_path / "sw", executor=ex, show_progress=True)
    assert summary.succeeded == 3
    assert sorted(r["result"]["y"] for r in load_results(tmp_path / "sw")) == [1, 4, 9]


def test_pool_worker_death_is_retried_on_a_fresh_pool(tmp_path):
    marker, log = tmp_path / "died", tmp_path / "calls.txt"
    dies = Trial(f"{FNS}:dies_first_time", {"marker": str(marker)})
    others = grid(f"{FNS}:square", {"log": str(log)}, x=[1, 2, 3])
    with LocalExecutor(workers=2) as ex:
        summary = run_sweep([dies, *others], tmp_path / "sw", executor=ex, retries=1,
                            show_progress=False)
    assert marker.exists() and summary.ok, summary.records
    assert summary.records[dies.id]["result"] == {"survived": True}
    assert summary.records[dies.id]["attempts"] == 2


def test_use_executor_sets_the_default_for_nested_sweeps(tmp_path):
    from tinydeploy.sweep import use_executor

    log = tmp_path / "calls.txt"
    trials = grid(f"{FNS}:square", {"log": str(log)}, x=[1, 2])
    with LocalExecutor(workers=2) as ex, use_executor(ex):
        summary = run_sweep(trials, tmp_path / "sw", show_progress=False)  # no executor given
        assert ex._pool is not None  # still open: the caller owns it
    assert summary.succeeded == 2
    state = json.loads((tmp_path / "sw" / "state.json").read_text())
    assert state["executor"] == "local (2 workers)" and state["status"] == "finished"
