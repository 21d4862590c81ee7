"""Candidate plans of latency-aware pruning: the criteria's sparsity profiles are what the
criteria prune, a profile scaled to a budget is the least sparse one that fits, identical
plans are one candidate, and validation accuracy picks among them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tinydeploy.errors import TinydeployError
from tinydeploy.latency.allocate import fastest_option, layer_options
from tinydeploy.latency.plans import (
    best_on_validation,
    candidate_plans,
    check_plan_kinds,
    profile_allocation,
    profile_sparsities,
)
from tinydeploy.latency.problem import LatencyProblem
from tinydeploy.latency.shapes import LayerShape
from tinydeploy.latency.table import CostTable
from tinydeploy.models import TinyNet

LAYERS = ("conv1", "conv2", "fc1", "fc2")
SHAPES = {"op_conv1": LayerShape("conv", (28, 28, 1), 8, (3, 3), padding=(1, 1, 1, 1)),
          "op_conv2": LayerShape("conv", (14, 14, 8), 16, (3, 3), padding=(1, 1, 1, 1)),
          "op_fc1": LayerShape("fc", (784,), 64), "op_fc2": LayerShape("fc", (64,), 10)}
DENSE = {"op_conv1": 60_000.0, "op_conv2": 200_000.0, "op_fc1": 80_000.0, "op_fc2": 2_000.0}
FIXED = 10_000.0


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return TinyNet()


def _problem() -> LatencyProblem:
    """A problem over a hand-written cost table: dense costs above, CSR falling linearly from
    1.3x dense at sparsity 0 to 0.05x at 0.99 (csrd on fc1 a little cheaper)."""
    table = CostTable("qemu-m4", shapes=dict(SHAPES))
    for op, dense in DENSE.items():
        table.add(op, "dense", 0.0, dense)
        for s in (0.0, 0.5, 0.9, 0.99):
            table.add(op, "csr", s, dense * (1.3 - 1.25 * s / 0.99))
            if op == "op_fc1":
                table.add(op, "csrd", s, dense * (1.2 - 1.16 * s / 0.99))
    mapping = {t: f"op_{t}" for t in LAYERS}
    penalties = {t: {"unstructured@0": 0.0, "unstructured@0.5": 0.1, "unstructured@0.9": 1.0}
                 for t in LAYERS}
    options = {t: layer_options(op, table, penalties[t], ["dense", "csr", "csrd"])
               for t, op in mapping.items()}
    dense = {"measured": {"per_inference": {"instructions_mean": FIXED + sum(DENSE.values())}},
             "per_layer_counts": {**DENSE, "pool": FIXED}, "flash_bytes": {"total": 40_000}}
    return LatencyProblem("qemu-m4", None, table, mapping, dict(SHAPES), dense, options,
                          penalties, penalties, SimpleNamespace(labels=[0] * 100), 10)


def _weights(model) -> dict[str, torch.Tensor]:
    return {t: getattr(model, t).weight.detach().abs().flatten() for t in LAYERS}


def test_uniform_profile_is_one_sparsity_everywhere():
    assert profile_sparsities(_model(), LAYERS, "uniform", 0.7) == dict.fromkeys(LAYERS, 0.7)


def test_global_magnitude_profile_is_one_threshold_over_all_layers():
    model = _model()
    per_layer = profile_sparsities(model, LAYERS, "global-magnitude", 0.8)
    w = _weights(model)
    sizes = {t: v.numel() for t, v in w.items()}
    overall = sum(per_layer[t] * sizes[t] for t in LAYERS) / sum(sizes.values())
    assert overall == pytest.approx(0.8, abs=1e-3)
    # every layer's kept weights are at least as large as every layer's pruned ones
    kept_min = min(torch.sort(w[t]).values[round(per_layer[t] * sizes[t]):].min()
                   for t in LAYERS if per_layer[t] < 1)
    pruned_max = max(torch.sort(w[t]).values[:round(per_layer[t] * sizes[t])].max()
                     for t in LAYERS if per_layer[t] > 0)
    assert kept_min >= pruned_max
    assert len({round(v, 3) for v in per_layer.values()}) > 1  # not uniform on TinyNet


def test_lamp_profile_keeps_every_layers_largest_weight():
    per_layer = profile_sparsities(_model(), LAYERS, "lamp", 0.98)
    sizes = {t: v.numel() for t, v in _weights(_model()).items()}
    assert all(per_layer[t] * sizes[t] <= sizes[t] - 1 + 1e-6 for t in LAYERS)


def test_profile_scaled_to_a_budget_is_the_least_sparse_that_fits():
    problem, model = _problem(), _model()
    for kind in ("uniform", "global-magnitude", "lamp"):
        for budget in (150_000.0, 250_000.0):
            alloc = profile_allocation(problem, model, kind, budget)
            assert alloc.predicted_total <= budget
            looser = profile_allocation(problem, model, kind, budget * 1.05)
            assert (sum(o.sparsity for o in looser.choice.values())
                    <= sum(o.sparsity for o in alloc.choice.values()))
    # uniform: 2 points less sparsity no longer fits
    alloc = profile_allocation(problem, model, "uniform", 200_000.0)
    s = alloc.choice["conv1"].sparsity
    cost = FIXED + sum(fastest_option(problem.table, f"op_{t}", "unstructured", s - 0.02,
                                      ("dense", "csr", "csrd")).instructions for t in LAYERS)
    assert cost > 200_000.0


def test_candidates_are_distinct_and_named_by_every_kind_that_gave_them():
    problem, model = _problem(), _model()
    cands = candidate_plans(problem, model, ["knapsack", "uniform", "uniform", "lamp"],
                            200_000.0, log=lambda _m: None)
    kinds = [k for ks, _, _ in cands for k in ks]
    assert sorted(kinds) == ["knapsack", "lamp", "uniform"]
    for _, alloc, info in cands:
        assert alloc.predicted_total <= 200_000
        assert info["selection_split"] == "validation"
        assert set(info["allocation"]["layers"]) == set(LAYERS)


def test_profiles_refuse_flash_and_ram_budgets_and_unknown_kinds():
    with pytest.raises(TinydeployError, match="instruction budget only"):
        candidate_plans(_problem(), _model(), ["knapsack", "uniform"], 200_000.0,
                        max_flash=30_000.0, log=lambda _m: None)
    with pytest.raises(TinydeployError, match="latency plan"):
        check_plan_kinds(["knapsack", "random"])


def test_dense_fitting_budget_leaves_only_the_knapsack():
    problem = _problem()
    cands = candidate_plans(problem, _model(), ["knapsack", "uniform"],
                            problem.dense_total + 1, log=lambda _m: None)
    assert [ks for ks, _, _ in cands] == [["knapsack"]]


def test_best_on_validation_ties_go_to_the_faster_plan():
    assert best_on_validation([(98.0, 100.0, "a"), (99.0, 300.0, "b"),
                               (99.0, 200.0, "c")]) == 2
    with pytest.raises(TinydeployError):
        best_on_validation([])


def test_below_the_knapsacks_reach_the_profiles_still_compete():
    problem = _problem()
    budget = problem.fastest - 1_000  # the knapsack's sparsest options (90%) do not fit
    with pytest.raises(TinydeployError, match="no allocation fits"):
        candidate_plans(problem, _model(), ["knapsack"], budget, log=lambda _m: None)
    cands = candidate_plans(problem, _model(), ["knapsack", "uniform"], budget,
                            log=lambda _m: None)
    assert [kinds for kinds, _, _ in cands] == [["uniform"]]
    assert cands[0][1].predicted_total <= budget
    with pytest.raises(TinydeployError, match=r"no allocation fits .* no candidate plan"):
        candidate_plans(problem, _model(), ["knapsack", "uniform"], FIXED + 100,
                        log=lambda _m: None)
