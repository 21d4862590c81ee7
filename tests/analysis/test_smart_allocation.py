"""Threshold bisection of the smart allocation hits the target overall sparsity."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinydeploy.analysis.smart import allocate, layer_sparsity_at
from tinydeploy.errors import TinydeployError

RATIOS = [i / 20 for i in range(20)]  # 0 .. 0.95
SIZES = {"conv1": 72, "conv2": 1152, "fc1": 50176, "fc2": 640}


def curve(knee: float, depth: float) -> list[tuple[float, float]]:
    return [(r, 99.0 - (0.0 if r <= knee else depth * (r - knee) / (1 - knee)))
            for r in RATIOS]


def test_layer_sparsity_interpolates_and_is_monotone():
    c = [(0.0, 99.0), (0.5, 98.0), (0.6, 90.0)]
    assert layer_sparsity_at(c, 99.0, 0.5) == pytest.approx(0.25)
    assert layer_sparsity_at(c, 99.0, 1.0) == pytest.approx(0.5)
    assert layer_sparsity_at(c, 99.0, 5.0) == pytest.approx(0.55)
    assert layer_sparsity_at(c, 99.0, 100.0) == pytest.approx(0.6)
    values = [layer_sparsity_at(c, 99.0, t / 10) for t in range(100)]
    assert values == sorted(values)


@settings(max_examples=40, deadline=None)
@given(st.floats(min_value=0.05, max_value=0.9),
       st.lists(st.floats(min_value=0.0, max_value=0.9), min_size=4, max_size=4),
       st.lists(st.floats(min_value=0.0, max_value=90.0), min_size=4, max_size=4))
def test_bisection_hits_target(target, knees, depths):
    curves = {n: curve(k, d) for n, k, d in zip(SIZES, knees, depths, strict=True)}
    alloc = allocate(curves, SIZES, 99.0, target, tolerance=1e-4)
    assert abs(alloc.overall - target) <= 1e-4
    assert all(0.0 <= s <= 0.95 for s in alloc.layer_sparsity.values())


def test_flat_curves_still_reach_the_target():
    flat = {n: [(r, 99.0) for r in RATIOS] for n in SIZES}
    flat["fc1"] = [(r, 99.0 if r < 0.5 else 50.0) for r in RATIOS]
    alloc = allocate(flat, SIZES, 99.0, 0.793)
    assert alloc.overall == pytest.approx(0.793, abs=1e-4)


def test_less_sensitive_layers_get_more_sparsity():
    curves = {"conv1": curve(0.2, 80), "conv2": curve(0.4, 60), "fc1": curve(0.8, 20),
              "fc2": curve(0.5, 60)}
    alloc = allocate(curves, SIZES, 99.0, 0.8)
    assert alloc.overall == pytest.approx(0.8, abs=1e-4)
    assert alloc.layer_sparsity["fc1"] > alloc.layer_sparsity["conv1"]


def test_unreachable_target_is_a_user_error():
    curves = {n: curve(0.5, 50) for n in SIZES}
    with pytest.raises(TinydeployError, match="out of reach"):
        allocate(curves, SIZES, 99.0, 0.97)


def test_size_weighting_spares_small_layers():
    curves = {n: curve(0.3, 60) for n in SIZES}
    uni = allocate(curves, SIZES, 99.0, 0.8)
    size = allocate(curves, SIZES, 99.0, 0.8, weighting="size")
    assert size.overall == pytest.approx(0.8, abs=1e-4)
    assert size.layer_sparsity["conv1"] < uni.layer_sparsity["conv1"]
    assert size.layer_sparsity["fc1"] > uni.layer_sparsity["fc1"]
    with pytest.raises(TinydeployError, match="weighting"):
        allocate(curves, SIZES, 99.0, 0.8, weighting="bogus")
