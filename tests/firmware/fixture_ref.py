"""Host reference of the hand-written fixture model (fixtures/fc_model): the weights are read
from its model.c, the integer arithmetic is the same as its tdm_invoke."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FC_MODEL = FIXTURES / "fc_model"


def _array(src: str, name: str, shape: tuple[int, ...]) -> np.ndarray:
    m = re.search(rf"\b{name}\b[^=]*=\s*(\{{.*?\}});", src, re.S)
    assert m, name
    values = [int(v) for v in re.findall(r"-?\d+", m.group(1))]
    return np.array(values, dtype=np.int64).reshape(shape)


def load_params(model_dir: Path = FC_MODEL) -> dict[str, np.ndarray]:
    src = (model_dir / "model.c").read_text()
    return {
        "w1": _array(src, "w1", (8, 16)), "b1": _array(src, "b1", (8,)),
        "w2": _array(src, "w2", (4, 8)), "b2": _array(src, "b2", (4,)),
        "golden_in": _array(src, "tdm_golden_input", (16,)),
        "golden_out": _array(src, "tdm_golden_output", (4,)),
    }


def _requant(acc, mult, shift, zp):
    return np.clip(((acc * mult + (1 << (shift - 1))) >> shift) + zp, -128, 127)


def reference(x: np.ndarray, p: dict[str, np.ndarray]) -> np.ndarray:
    """int8 outputs for a batch x [N, 16]."""
    x = x.astype(np.int64)
    hidden = np.maximum(_requant(x @ p["w1"].T + p["b1"], 5, 10, 0), 0)
    return _requant(hidden @ p["w2"].T + p["b2"], 3, 9, -2).astype(np.int8)


def make_vectors(n: int, seed: int = 0):
    """n random inputs, their reference outputs, labels = argmax except every 5th (wrong)."""
    p = load_params()
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(n, 16)).astype(np.int8)
    y = reference(x, p)
    labels = np.argmax(y, axis=1).astype(np.int16)
    labels[::5] = (labels[::5] + 1) % 4
    return x, labels, y


def copy_model(tmp_path: Path, arena: str | None = None, extra_c: str = "") -> Path:
    """A copy of the fixture model, optionally with another arena size or an extra source."""
    d = tmp_path / "model"
    shutil.copytree(FC_MODEL, d)
    if arena:
        h = d / "model.h"
        h.write_text(h.read_text().replace("TDM_ARENA_SIZE 8", f"TDM_ARENA_SIZE {arena}"))
    if extra_c:
        (d / "extra.c").write_text(extra_c)
    return d
