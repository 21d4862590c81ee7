"""Budgeted allocation: the knapsack is exact, options take the fastest format, the plan
becomes prune configs, and the checkpoint's allocation maps back onto the graph."""

from __future__ import annotations

import itertools

import pytest

from tinydeploy.errors import TinydeployError
from tinydeploy.latency.allocate import Allocation, LayerOption, allocate, layer_options
from tinydeploy.latency.prune import allocated_formats, prune_configs
from tinydeploy.latency.shapes import LayerShape, synthetic_graph
from tinydeploy.latency.table import CostTable

FC = LayerShape("fc", (300,), 24)


def _opt(cost: float, pen: float, s: float = 0.5) -> LayerOption:
    return LayerOption("unstructured", s, "csr", cost, pen)


def test_knapsack_matches_brute_force():
    options = {
        "a": [_opt(1000, 0.0), _opt(600, 0.4), _opt(300, 2.5), _opt(150, 9.0)],
        "b": [_opt(2000, 0.0), _opt(900, 0.2), _opt(500, 1.1), _opt(250, 6.0)],
        "c": [_opt(500, 0.0), _opt(200, 0.05), _opt(100, 3.0)],
    }
    for budget in (900, 1500, 2100, 2600, 3500):
        got = allocate(options, budget, fixed=100.0, resolution=10)
        feasible = [combo for combo in itertools.product(*options.values())
                    if 100 + sum(o.instructions for o in combo) <= budget]
        best = min(sum(o.penalty for o in combo) for combo in feasible)
        assert got.penalty == pytest.approx(best)
        assert got.predicted_total <= budget
        assert got.predicted_total == pytest.approx(100 + sum(
            o.instructions for o in got.choice.values()))


def test_infeasible_budget_names_the_minimum():
    with pytest.raises(TinydeployError, match="needs 1,100"):
        allocate({"a": [_opt(1000, 0.0)]}, 500, fixed=100.0)


def test_options_take_the_fastest_format():
    t = CostTable("qemu-m4", shapes={"fc": FC})
    for s, v in ((0.0, 9000.0), (0.5, 5000.0), (0.9, 1200.0), (0.99, 300.0)):
        t.add("fc", "csr", s, v)
        t.add("fc", "csrd", s, v * 0.9)
    t.add("fc", "dense", 0.0, 6000.0)
    t.add("fc", "nm1_4", 0.0, 2500.0)
    opts = {(o.granularity, o.sparsity): o for o in layer_options(
        "fc", t, {"unstructured@0": 0.0, "unstructured@0.5": 0.1, "unstructured@0.9": 1.0,
                "nm:1:4": 0.7})}
    assert opts[("unstructured", 0.0)].format == "dense"
    assert opts[("unstructured", 0.5)].format == "csrd"
    assert opts[("unstructured", 0.9)].instructions == pytest.approx(1080.0)
    assert opts[("nm:1:4", 0.75)].format == "csrd"  # 0.75 sparse csrd beats the nm kernel
    only_nm = layer_options("fc", t, {"nm:1:4": 0.7}, allowed=["dense", "nm1_4"])
    assert [o.format for o in only_nm] == ["nm1_4"]


def test_allocation_becomes_prune_configs_and_formats():
    choice = {"conv1": LayerOption("nm:2:4", 0.5, "nm2_4", 1.0, 0.0),
              "fc1": LayerOption("unstructured", 0.9, "csrd", 1.0, 0.0),
              "fc2": LayerOption("unstructured", 0.0, "dense", 1.0, 0.0)}
    main, pre = prune_configs(Allocation(choice, 3.0, 0.0, 10.0), "magnitude")
    assert [(c.granularity, c.layers) for c in pre] == [("nm:2:4", ("conv1",))]
    assert main.scope == "explicit" and dict(main.layer_sparsity) == {"fc1": 0.9, "fc2": 0.0}
    graph = synthetic_graph(FC, "dense_op")
    meta = {"latency": {"layer_map": {"fc1": "old_name"},
                        "allocation": {"layers": {"fc1": {"format": "csrd"}}}}}
    assert allocated_formats(meta, graph) == {"dense_op": "csrd"}
    assert allocated_formats({}, graph) is None
