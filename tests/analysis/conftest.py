"""Analysis tests: one thread, a small TinyNet trained here on an MNIST slice, tiny test slices."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def checkpoint(data_dir, tmp_path_factory, _one_thread) -> Path:
    """A real (briefly) trained TinyNet: 4 epochs on 15k images reach ~97% on MNIST."""
    from tinydeploy.train.recipes import recipe_for
    from tinydeploy.train.run import train_model

    out = tmp_path_factory.mktemp("analysis-ckpt")
    cfg = recipe_for("mnist", epochs=4, train_limit=15000, val_size=1000, seed=0)
    train_model(dataset_name="mnist", data_dir=data_dir, cfg=cfg, out=out, test_limit=1000,
                log=lambda _: None)
    return out


@pytest.fixture(scope="session")
def ctx(checkpoint, data_dir):
    from tinydeploy.analysis.context import load_context

    return load_context(checkpoint, data_dir, eval_limit=500)
