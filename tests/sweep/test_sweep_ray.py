"""The Ray executor against a real, private Ray instance (loopback only, 2 CPUs): a grid of
prune + 1-epoch fine-tune trials gives bit-identical results to the local executor; a worker
that dies mid-trial is retried; a raising trial is recorded with its traceback.

Ray must be installed: see `sweep_helpers.require_ray` (skipped with a reason locally,
a failure in CI mode).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sweep_helpers import require_ray

from tinydeploy.sweep import Trial, grid, load_results, make_executor, run_sweep

pytestmark = pytest.mark.slow
FNS = "sweep_trialfns"


@pytest.fixture(scope="module")
def ray_executor():
    require_ray()
    from tinydeploy.sweep.ray_executor import RayExecutor

    executor = RayExecutor(num_cpus=2)  # address None: a private instance on 127.0.0.1
    try:
        import ray

        nodes = ray.nodes()
        assert [n["NodeManagerAddress"] for n in nodes] == ["127.0.0.1"]
        assert ray.cluster_resources()["CPU"] == 2 and executor.max_parallel == 2
        yield executor
    finally:
        executor.shutdown()


@pytest.fixture(scope="module")
def small_checkpoint(data_dir, tmp_path_factory) -> Path:
    """A TinyNet trained for one epoch on 2000 images (accuracy is beside the point)."""
    import torch

    from tinydeploy.train.recipes import recipe_for
    from tinydeploy.train.run import train_model

    out = tmp_path_factory.mktemp("sweep-ckpt")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = recipe_for("mnist", epochs=1, train_limit=2000, val_size=500, seed=0)
        train_model(dataset_name="mnist", data_dir=data_dir, cfg=cfg, out=out, test_limit=200,
                    log=lambda _: None)
    finally:
        torch.set_num_threads(threads)
    return out


def _without_timings(value):
    """Results minus wall-clock fields (the only numbers allowed to differ)."""
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def test_prune_grid_on_ray_equals_local_bit_for_bit(ray_executor, small_checkpoint, data_dir,
                                                    tmp_path):
    trials = grid("tinydeploy.prune.trials:after_training",
                  {"checkpoint": str(small_checkpoint), "data_dir": str(data_dir),
                   "finetune_epochs": 1, "train_limit": 1000, "test_limit": 300,
                   "score_samples": 64, "seed": 0},
                  method=["magnitude", "lamp"], scope=["global", "layerwise"],
                  sparsity=[0.5, 0.8])
    assert len(trials) == 8
    with make_executor("local", workers=0) as local:
        here = run_sweep(trials, tmp_path / "local", executor=local, show_progress=False)
    there = run_sweep(trials, tmp_path / "ray", executor=ray_executor, show_progress=False)
    assert here.ok and there.ok and there.succeeded == 8
    hosts = {r["pid"] for r in load_results(tmp_path / "ray")}
    assert os.getpid() not in hosts  # really ran in Ray workers
    for t in trials:
        a, b = here.records[t.id]["result"], there.records[t.id]["result"]
        assert json.dumps(_without_timings(a), sort_keys=True) == \
            json.dumps(_without_timings(b), sort_keys=True), t.params
    # the grid is not degenerate: different criteria/sparsities give different models
    assert len({json.dumps(here.records[t.id]["result"]["layers"]) for t in trials}) > 4


def test_unseeded_trials_match_across_executors(ray_executor, tmp_path):
    trials = [Trial(f"{FNS}:rng_draws", {"k": k}) for k in range(4)]
    with make_executor("local", workers=2) as pool:
        a = run_sweep(trials, tmp_path / "pool", executor=pool, show_progress=False)
    b = run_sweep(trials, tmp_path / "ray", executor=ray_executor, show_progress=False)
    assert [a.records[t.id]["result"] for t in trials] == \
        [b.records[t.id]["result"] for t in trials]


def test_worker_death_is_retried(ray_executor, tmp_path):
    marker = tmp_path / "died"
    trial = Trial(f"{FNS}:dies_first_time", {"marker": str(marker)})
    summary = run_sweep([trial], tmp_path / "sw", executor=ray_executor, retries=0,
                        show_progress=False)
    assert marker.exists()  # the first attempt's worker really died
    assert summary.ok and summary.records[trial.id]["result"] == {"survived": True}


def test_raising_trial_is_retried_then_recorded(ray_executor, tmp_path):
    log = tmp_path / "calls.txt"
    bad = Trial(f"{FNS}:always_fails", {"x": 7, "log": str(log)})
    good = Trial(f"{FNS}:square", {"x": 3, "log": str(log)})
    summary = run_sweep([bad, good], tmp_path / "sw", executor=ray_executor, retries=1,
                        show_progress=False)
    assert summary.failed == [bad.id] and summary.succeeded == 1 and summary.exit_code == 1
    assert log.read_text().split().count("7") == 2
    rec = summary.records[bad.id]
    assert rec["attempts"] == 2 and "ValueError: bad x 7" in rec["error"]
    assert "Traceback" in rec["traceback"]


def test_cli_runs_on_ray(ray_executor, tmp_path, capsys):
    from tinydeploy.cli.main import main

    config = tmp_path / "c.toml"
    config.write_text(f"""
fn = "{FNS}:square"
dir = "{tmp_path / 'sw'}"
[fixed]
log = "{tmp_path / 'calls.txt'}"
[grid]
x = [1, 2, 3, 4]
""")
    # the instance the fixture started is reused (and left running)
    assert main(["sweep", str(config), "--executor", "ray", "-q"]) == 0
    out = capsys.readouterr().out
    assert "on ray (local instance" in out and "4 trials: 0 already done, 4 run" in out
    assert sorted(r["result"]["y"] for r in load_results(tmp_path / "sw")) == [1, 4, 9, 16]
