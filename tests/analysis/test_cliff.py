"""The cliff locator on synthetic accuracy functions: exact to the 0.1% resolution."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinydeploy.analysis.cliff import locate_cliff
from tinydeploy.errors import TinydeployError


def test_step_cliff_found_to_resolution():
    calls = []

    def acc(s: float) -> float:
        calls.append(s)
        return 99.0 if s < 0.6665 else 30.0

    r = locate_cliff(acc)
    assert r["converged"]
    assert r["cliff_start"] == pytest.approx(0.666)
    assert r["cliff_end"] == pytest.approx(0.667)
    assert r["largest_step"] == {"from": pytest.approx(0.666), "to": pytest.approx(0.667),
                                 "drop": pytest.approx(69.0)}
    assert r["last_above_threshold"] == pytest.approx(0.666)
    assert len(calls) == len(set(calls)) < 40  # coarse-to-fine, no point evaluated twice


def test_ramp_cliff_10_90_width_and_threshold():
    def acc(s: float) -> float:  # 99 -> 20 linearly between 79.6% and 85%
        if s <= 0.796:
            return 99.0
        if s >= 0.85:
            return 20.0
        return 99.0 - 79.0 * (s - 0.796) / 0.054

    r = locate_cliff(acc, threshold=0.5)
    # 10%: acc <= 91.1 from s > 0.8014; 90%: acc <= 27.9 from s >= 0.8446
    assert r["cliff_start"] == pytest.approx(0.801)
    assert r["cliff_end"] == pytest.approx(0.845)
    # 50% of 99 = 49.5 is crossed at s = 0.8297...
    assert r["last_above_threshold"] == pytest.approx(0.829)
    assert r["largest_step"]["to"] - r["largest_step"]["from"] == pytest.approx(0.001)


def test_batch_evaluator_gives_the_same_answer():
    def acc(s: float) -> float:
        return 98.0 if s < 0.7123 else 11.0

    single = locate_cliff(acc)
    batched = locate_cliff(evaluate_many=lambda ss: [acc(s) for s in ss])
    assert single == batched
    assert single["cliff_start"] == pytest.approx(0.712)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=20, max_value=940), st.floats(min_value=5, max_value=80))
def test_any_step_location_is_bracketed(where: int, depth: float):
    edge = where / 1000 + 0.0005

    def acc(s: float) -> float:
        return 99.0 if s < edge else 99.0 - depth

    r = locate_cliff(acc)
    assert r["largest_step"]["from"] == pytest.approx(where / 1000)
    assert r["cliff_end"] - r["cliff_start"] == pytest.approx(0.001)


def test_bad_arguments():
    with pytest.raises(TinydeployError):
        locate_cliff()
    with pytest.raises(TinydeployError):
        locate_cliff(lambda s: 1.0, resolution=0.0)
