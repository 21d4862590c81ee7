"""Sensitivity scan on the trained MNIST checkpoint (500 validation images, a 3-point grid)."""

from __future__ import annotations

import pytest

from tinydeploy.analysis import sensitivity
from tinydeploy.errors import TinydeployError

GRID = [0.0, 0.5, 0.9]


@pytest.fixture(scope="module")
def scanned(ctx, data_dir, tmp_path_factory):
    sweep = tmp_path_factory.mktemp("sens") / "sweep"
    data = sensitivity.scan(ctx, sweep_dir=sweep, ratios=GRID, data_dir=data_dir,
                            eval_limit=500, show_progress=False)
    return data, sweep


def test_table_shape_and_sanity(scanned):
    data, _ = scanned
    layers = data["config"]["layers"]
    assert layers == ["conv1", "conv2", "fc1", "fc2"]
    assert all(len(data["accuracy"][n]) == len(GRID) for n in layers)
    assert len(data["per_ratio"]) == len(GRID)
    for n in layers:
        acc = data["accuracy"][n]
        assert acc[0] == data["baseline_accuracy"]  # ratio 0 leaves the model unchanged
        assert acc[-1] <= acc[0] + 0.5  # pruning 90% of a layer never helps much
        assert data["delta"][n][-1] == pytest.approx(acc[-1] - data["baseline_accuracy"])
    at90 = data["per_ratio"][-1]
    assert at90["most_acc"] == min(data["accuracy"][n][-1] for n in layers)
    assert at90["gap"] > 10  # 90% in one layer separates the layers clearly


def test_report_artifacts(scanned, tmp_path):
    from tinydeploy.analysis.report import write_report

    data, _ = scanned
    paths = write_report(tmp_path, "sensitivity", data, sensitivity.markdown(data),
                         sensitivity.plots(data))
    names = sorted(p.name for p in paths)
    assert names == ["sensitivity.json", "sensitivity.md", "sensitivity_curves.png",
                     "sensitivity_heatmap.png"]
    assert (tmp_path / "sensitivity_heatmap.png").read_bytes()[:4] == b"\x89PNG"
    prov = data["provenance"]
    assert prov["selection_split"] == "validation" and prov["selection_images"] == 500
    assert prov["validation_split"] == {"held_out_from": "train", "val_size": 1000, "seed": 0}
    assert prov["test_images"] == 0
    text = (tmp_path / "sensitivity.md").read_text()
    assert "500 validation images" in text and "no test images" in text
    assert "500 test images" not in text


def test_resume_skips_finished_trials(scanned, ctx, data_dir, monkeypatch):
    data, sweep = scanned

    def boom(params):
        raise AssertionError("a finished trial was recomputed")

    monkeypatch.setattr(sensitivity, "layer_point", boom)
    again = sensitivity.scan(ctx, sweep_dir=sweep, ratios=GRID, data_dir=data_dir,
                             eval_limit=500, show_progress=False)
    assert again["accuracy"] == data["accuracy"]


def test_grid_parsing():
    assert sensitivity.parse_grid("0:0.2:0.1,0.95") == [0.0, 0.1, 0.2, 0.95]
    for bad in ("0:1:0.5", "a,b", "0:0.5:0", ""):
        with pytest.raises(TinydeployError):
            sensitivity.parse_grid(bad)
