"""Cost tables: sparsity patterns, synthetic layers, content-hash caching, interpolation, and
real measurements on QEMU."""

from __future__ import annotations

import numpy as np
import pytest

from tinydeploy.codegen.generator import generate_c
from tinydeploy.errors import TinydeployError
from tinydeploy.latency.shapes import LayerShape, layer_params, layer_shapes, synthetic_graph
from tinydeploy.latency.sparsify import format_sparsity, sparsify
from tinydeploy.latency.table import CostTable, build_table, formats_for, plan_trials
from tinydeploy.tdnn.formats import get_format

CONV = LayerShape("conv", (14, 14, 8), 16, (3, 3), (1, 1), (1, 1, 1, 1), True)
FC = LayerShape("fc", (300,), 24)


def test_unstructured_sparsify_zeros_the_smallest():
    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, (16, 72), dtype=np.int8)
    w[w == 0] = 1
    out = sparsify(w, "csr", 0.9)
    assert np.count_nonzero(out == 0) == round(0.9 * w.size)
    kept = np.abs(out[out != 0].astype(int))
    dropped = np.abs(w[out == 0].astype(int))
    assert kept.min() >= dropped.max()
    assert np.array_equal(out[out != 0], w[out != 0])  # values untouched


@pytest.mark.parametrize("fmt", ["nm2_4", "nm1_8", "nm1_16"])
def test_nm_sparsify_satisfies_the_format(fmt):
    rng = np.random.default_rng(1)
    w = rng.integers(-127, 128, (8, 37), dtype=np.int8)  # K not a multiple of M
    out = sparsify(w, fmt, 0.0)
    get_format(fmt).encode(out, "w")  # raises if any group holds more than N
    n, m = map(int, fmt[2:].split("_"))
    assert format_sparsity(fmt, 0.3) == pytest.approx(1 - n / m)
    assert np.count_nonzero(out) <= n * 8 * -(-37 // m)


def test_synthetic_graph_round_trips_its_shape():
    for shape in (CONV, FC):
        g = synthetic_graph(shape)
        assert list(layer_shapes(g).values()) == [shape]
        gen = generate_c(g, "dense", layer_formats={"layer": "csr"})
        assert "model.c" in gen.files
    again = synthetic_graph(CONV)
    assert np.array_equal(again.ops[0].weights, synthetic_graph(CONV).ops[0].weights)


def test_layer_formats_override_and_validate():
    g = synthetic_graph(FC)
    gen = generate_c(g, "dense", layer_formats={"layer": "csrd"})
    assert [row["chosen"] for row in gen.report["layers"]] == ["csrd"]
    with pytest.raises(TinydeployError, match="not a weighted layer"):
        generate_c(g, "dense", layer_formats={"nope": "csr"})
    with pytest.raises(TinydeployError, match=r"weight format|sparse format"):
        generate_c(g, "dense", layer_formats={"layer": "zip"})


def _ids(planned) -> set[str]:
    return {t.id for _, t in planned}


def test_points_are_content_addressed(tmp_path):
    a = plan_trials({"c": CONV, "f": FC}, "qemu-m4", sparsities=(0.0, 0.9), cache_dir=tmp_path)
    b = plan_trials({"x": FC, "y": CONV, "z": CONV}, "qemu-m4", sparsities=(0.9, 0.0),
                    cache_dir=tmp_path)
    assert _ids(a) == _ids(b)  # same shapes, any model, any names or order
    # conv: dense + csr x 2 sparsities + 5 N:M; fc (K > 256) adds csrd x 2
    assert len(a) == (1 + 2 + 5) + (1 + 2 + 2 + 5)
    m7 = plan_trials({"c": CONV}, "qemu-m7", sparsities=(0.0,), cache_dir=tmp_path)
    assert not _ids(m7) & _ids(a)
    real = layer_params(synthetic_graph(FC, "f"))
    own = plan_trials({"f": FC}, "qemu-m4", params=real, sparsities=(0.0,), cache_dir=tmp_path)
    synth = plan_trials({"f": FC}, "qemu-m4", sparsities=(0.0,), cache_dir=tmp_path)
    assert not _ids(own) & _ids(synth)  # a layer's own parameters are part of the key
    again = plan_trials({"g": FC}, "qemu-m4", params={"g": real["f"]}, sparsities=(0.0,),
                        cache_dir=tmp_path)
    assert _ids(again) == _ids(own)
    assert "csrd" in formats_for(FC) and "csrd" not in formats_for(CONV)


def test_interpolation_never_extrapolates():
    t = CostTable("qemu-m4", shapes={"fc": FC})
    for s, v in ((0.0, 1000.0), (0.5, 600.0), (0.9, 200.0)):
        t.add("fc", "csr", s, v)
    t.add("fc", "dense", 0.0, 900.0)
    assert t.predict("fc", "csr", 0.5) == 600.0
    assert t.predict("fc", "csr", 0.7) == pytest.approx(400.0)
    assert t.predict("fc", "dense", 0.8) == 900.0
    with pytest.raises(TinydeployError, match="outside the measured range"):
        t.predict("fc", "csr", 0.95)
    with pytest.raises(TinydeployError, match="no measured points"):
        t.predict("conv", "csr", 0.5)


@pytest.mark.firmware
def test_measured_table_on_qemu_is_cached(tmp_path):
    cache = tmp_path / "cache"
    table = build_table({"fc": FC}, "qemu-m4", formats=["dense", "csr"], sparsities=(0.0, 0.9),
                        cache_dir=cache, show_progress=False)
    dense = table.predict("fc", "dense")
    csr0, csr90 = table.predict("fc", "csr", 0.0), table.predict("fc", "csr", 0.9)
    assert table.unit == "instructions"
    assert 0 < csr90 < dense < csr0 * 1.5  # 90% sparse CSR beats dense on 7,200 weights
    files = {p: p.stat().st_mtime_ns for p in (cache / "trials").glob("*.json")}
    assert len(files) == 3
    again = build_table({"other": FC}, "qemu-m4", formats=["dense", "csr"],
                        sparsities=(0.0, 0.9), cache_dir=cache, show_progress=False)
    assert again.predict("other", "csr", 0.9) == csr90
    assert {p: p.stat().st_mtime_ns for p in (cache / "trials").glob("*.json")} == files
