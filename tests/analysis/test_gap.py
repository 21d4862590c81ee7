"""Gap bookkeeping on synthetic per-image results: band, departure, flips."""

from __future__ import annotations

import numpy as np
import torch

from tinydeploy.analysis.context import pack_bits, unpack_bits
from tinydeploy.analysis.gap import analyse

N = 2000


def _flags(acc: float, seed: int) -> str:
    rng = np.random.default_rng(seed)
    return pack_bits(torch.from_numpy(rng.random(N) < acc))


def _result(accs: dict[str, float], seed: int) -> dict:
    return {"uniform_accuracy": 0.0, "uniform_correct": _flags(0.99, 0), "n": N,
            "layers": {n: {"accuracy": 100 * a, "sparsity": 0.0, "correct": _flags(a, seed + i)}
                       for i, (n, a) in enumerate(accs.items())}}


def test_pack_roundtrip():
    flags = torch.rand(1001) < 0.5
    assert (unpack_bits(pack_bits(flags), 1001) == flags.numpy()).all()


def test_departure_and_flips():
    cps = [0.0, 0.2, 0.4, 0.6, 0.8]
    rows = [{"a": 0.99, "b": 0.99}, {"a": 0.99, "b": 0.99}, {"a": 0.90, "b": 0.99},
            {"a": 0.80, "b": 0.60}, {"a": 0.50, "b": 0.30}]
    data = analyse(cps, [_result(r, 10 * i) for i, r in enumerate(rows)], samples=200)
    assert 0 < data["noise_band"]["upper"] < 2.0
    assert data["departure"] == 0.4
    assert data["flips"] == [{"sparsity": 0.6, "from": "a", "to": "b"}]
    assert [r["most_sensitive"] for r in data["checkpoints"]][2:] == ["a", "b", "b"]
