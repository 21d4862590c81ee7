"""smart_prune end to end on a tiny budget: target reached, masks kept, checkpoint reloads."""

from __future__ import annotations

import pytest

from tinydeploy.analysis.smart import smart_prune
from tinydeploy.checkpoint import load_checkpoint
from tinydeploy.prune.masks import check_masks, get_masks


def test_smart_prune_tiny(checkpoint, data_dir, tmp_path):
    out = tmp_path / "smart"
    outcome = smart_prune(checkpoint=checkpoint, sparsity=0.8, out=out, grid="0,0.5,0.9,0.95",
                          layer_epochs=0, finetune_epochs=1, train_limit=256, eval_limit=200,
                          data_dir=data_dir, show_progress=False)
    rep = outcome.report
    assert rep["achieved_sparsity"] == pytest.approx(0.8, abs=2e-3)
    assert rep["pruned_test_top1"] > 50
    assert rep["pruned_val_top1"] > 50
    prov = rep["provenance"]
    assert (prov["selection_split"], prov["selection_images"], prov["test_images"]) == (
        "validation", 200, 10000)
    assert "200 validation images" in outcome.markdown and "10000 test images" in outcome.markdown
    assert set(rep["layer_sparsity"]) == {"conv1", "conv2", "fc1", "fc2"}
    for name in ("model.safetensors", "smart.json", "smart.md", "smart_allocation.png"):
        assert (out / name).exists()
    model, meta = load_checkpoint(out)
    assert set(get_masks(model)) == set(rep["layer_sparsity"]) - {
        n for n, s in rep["layer_sparsity"].items() if s == 0}
    check_masks(model)
    assert meta["prune"]["config"]["method"] == "smart"
