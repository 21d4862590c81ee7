"""The accuracy-floor search: bisects the budget, keeps the most pruned probe that reaches the
floor, and says plainly when none does. End to end through `tinydeploy prune` too."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from tinydeploy.cli.main import main
from tinydeploy.errors import TinydeployError
from tinydeploy.latency.allocate import Allocation
from tinydeploy.latency.floor import search_floor


def _problem(accuracy_at):
    """solve/run pair over a made-up accuracy curve: the plan uses 95% of its budget."""
    def solve(budget: float):
        return Allocation({}, 0.95 * budget, 0.0, budget), {"budget": budget}

    def run(alloc: Allocation, info: dict):
        return accuracy_at(alloc.predicted_total), info["budget"]

    return solve, run


def test_bisection_keeps_the_fastest_probe_that_reaches_the_floor():
    solve, run = _problem(lambda instr: 99.3 - 30_000 / instr)  # 99.0 at 100,000
    kept, tried = search_floor(solve, run, min_accuracy=99.0, fastest=50_000, dense=500_000,
                               probes=6, log=lambda _m: None)
    assert len(tried) == 6
    passing = [p for p in tried if p.val_top1 >= 99.0]
    assert kept.predicted == min(p.predicted for p in passing)
    assert 100_000 <= kept.predicted <= 120_000  # converged near the true threshold
    # every probe after a pass is below its budget, after a failure above
    for a, b in itertools.pairwise(tried):
        assert (b.budget < a.budget) == (a.val_top1 >= 99.0)


def test_no_probe_reaching_the_floor_is_a_clear_error():
    solve, run = _problem(lambda instr: 98.0)
    with pytest.raises(TinydeployError, match=r"no probe reached 99.00%.*best 98.00%"):
        search_floor(solve, run, min_accuracy=99.0, fastest=50_000, dense=500_000, probes=2,
                     log=lambda _m: None)
    with pytest.raises(TinydeployError, match=">= 1 probe"):
        search_floor(solve, run, min_accuracy=99.0, fastest=1, dense=2, probes=0)


@pytest.mark.parametrize(("args", "message"), [
    (["--objective", "latency", "--min-accuracy", "99", "--budget", "2e5"],
     "--min-accuracy or --budget/--speedup, not both"),
    (["--min-accuracy", "99"], "need --objective latency"),
])
def test_floor_option_errors(tmp_path: Path, capsys, args: list[str], message: str):
    ckpt = tmp_path / "none"
    assert main(["prune", "-c", str(ckpt), *args, "--out", str(tmp_path / "o")]) != 0
    assert message in capsys.readouterr().err


@pytest.mark.firmware
@pytest.mark.slow
def test_prune_to_an_accuracy_floor_end_to_end(tmp_path: Path, data_dir: Path):
    assert main(["train", "--epochs", "1", "--train-limit", "4000", "--val-size", "1000",
                 "--data-dir", str(data_dir), "--out", str(tmp_path / "dense")]) == 0
    dense_val = json.loads((tmp_path / "dense" / "model.json").read_text())
    assert main(["prune", "-c", str(tmp_path / "dense" / "model"), "--objective", "latency",
                 "--board", "qemu-m4", "--min-accuracy", "45", "--floor-probes", "2",
                 "--latency-formats", "dense,csr", "--recipe", "course", "--finetune-epochs",
                 "1", "--qat-epochs", "0", "--train-limit", "4000", "--data-dir",
                 str(data_dir), "--out", str(tmp_path / "floor")]) == 0
    info = json.loads((tmp_path / "floor" / "latency_allocation.json").read_text())
    floor = info["floor"]
    assert floor["min_accuracy"] == 45 and len(floor["probes"]) == 2
    kept = floor["probes"][floor["kept_probe"]]
    assert kept["val_top1"] >= 45 and kept["budget"] == pytest.approx(floor["kept_budget"], abs=0.1)
    assert info["allocation"]["predicted_total"] <= floor["kept_budget"]
    assert info["selection_split"] == "validation"
    meta = json.loads((tmp_path / "floor" / "model.json").read_text())
    assert meta["latency"]["floor"] == floor and dense_val["kind"] != "pruned"
