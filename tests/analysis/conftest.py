"""Analysis tests: one thread, the repository's trained MNIST checkpoint, tiny test slices."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

CHECKPOINT = Path(__file__).resolve().parents[2] / "runs" / "bench-train" / "mnist"


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def checkpoint(data_dir) -> Path:
    if not (CHECKPOINT / "model.safetensors").exists():
        pytest.skip(f"trained checkpoint {CHECKPOINT} not found (tinydeploy train)")
    return CHECKPOINT


@pytest.fixture(scope="session")
def ctx(checkpoint, data_dir):
    from tinydeploy.analysis.context import load_context

    return load_context(checkpoint, data_dir, eval_limit=500)
