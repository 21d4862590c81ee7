"""Generated C: API contract, memory plan, formats, and host runs == reference executor."""

from __future__ import annotations

import copy
import re
import shutil

import numpy as np
import pytest
from tools_required import unavailable

from tinydeploy.codegen import generate_c
from tinydeploy.codegen.host import build_host_runner, run_host
from tinydeploy.codegen.memplan import Buffer, check_plan, plan
from tinydeploy.errors import ExportError
from tinydeploy.ir import read_tflite
from tinydeploy.ir.reference import run


@pytest.fixture
def gcc() -> None:
    if shutil.which("gcc") is None:
        unavailable("host gcc is not installed")


needs_gcc = pytest.mark.usefixtures("gcc")


def _write(gen, d):
    d.mkdir(parents=True, exist_ok=True)
    for name, text in gen.files.items():
        (d / name).write_text(text)
    return d


def test_header_contract(dense_export):
    gen = generate_c(read_tflite(dense_export[1]), "dense")
    h = gen.header
    for macro in ("TDM_INPUT_SIZE 784", "TDM_OUTPUT_SIZE 10", "TDM_NUM_LAYERS 4",
                  "TDM_INPUT_ZERO_POINT -128", "TDM_ARENA_SIZE", "TDM_INPUT_SCALE",
                  "TDM_OUTPUT_SCALE", "TDM_OUTPUT_ZERO_POINT"):
        assert f"#define {macro}" in h
    assert "int tdm_invoke(const int8_t *input, int8_t *output, int8_t *arena);" in h
    assert "extern const char *const tdm_layer_names[TDM_NUM_LAYERS];" in h
    assert "extern const int8_t tdm_golden_input[TDM_INPUT_SIZE];" in h
    assert "void tdm_layer_begin(int layer);" in h
    assert "td_conv_dense_s8" in gen.source and ".fused_maxpool = 1" in gen.source
    assert re.search(r"static alignas\(16\) const int8_t conv1_values\[72\]", gen.source)
    assert [layer.name for layer in gen.layers] == ["conv1+maxpool1", "conv2+maxpool2", "fc1",
                                                    "fc2"]


def test_memory_plan_is_valid_and_tight():
    bufs = [Buffer("a", 100, 0, 1), Buffer("b", 50, 1, 2), Buffer("c", 100, 2, 3),
            Buffer("s", 30, 1, 1)]
    size = plan(bufs)
    check_plan(bufs)
    assert size <= 100 + 52 + 32  # a, b, s live together at layer 1
    assert bufs[2].offset == 0 or bufs[2].offset >= 52


def test_auto_picks_smallest_and_sparse_saves_bytes(sparse_tflite):
    g = read_tflite(sparse_tflite)
    gen = generate_c(g, "auto")
    for row in gen.report["layers"]:
        assert row["weight_bytes"] == min(row["bytes_per_format"].values())
    assert gen.report["total_weight_bytes"] < 0.35 * gen.report["total_dense_bytes"]


def test_nm_rejects_layers_without_the_pattern(dense_export):
    g = read_tflite(dense_export[1])
    with pytest.raises(ExportError, match="does not satisfy"):
        generate_c(g, "nm2_4")


def _nm_graph(g):
    """fc1 weights made 1:4-structured in the original (NCHW flatten) column order."""
    g = copy.deepcopy(g)
    fc1 = g.weighted_ops()[2]
    w = fc1.weights.reshape(64, 196, 4).copy()
    keep = np.random.default_rng(0).integers(0, 4, size=(64, 196))  # one random slot per group
    w[np.arange(4)[None, None, :] != keep[:, :, None]] = 0
    fc1.weights = w.reshape(64, 784)
    return g


@needs_gcc
def test_transpose_kept_when_folding_breaks_nm(dense_export, mnist, tmp_path, int8_inputs):
    g = _nm_graph(read_tflite(dense_export[1]))
    gen = generate_c(g, "auto")  # fc1 -> nm1_4; the dense conv layers stay dense
    assert gen.report["transposes_kept"] == 1
    assert "TRANSPOSE" in [op.kind for op in gen.graph.ops]
    fc1 = next(r for r in gen.report["layers"] if r["layer"] == "fc1")
    assert fc1["chosen"] == "nm1_4"
    x = int8_inputs(mnist.test_images[:100])
    exe = build_host_runner(_write(gen, tmp_path / "c"), tmp_path / "b")
    assert np.array_equal(run_host(exe, x, 10), run(g, x).reshape(100, 10))
    # dense/csr fold it
    assert generate_c(g, "csr").report["transposes_kept"] == 0


@needs_gcc
@pytest.mark.parametrize("mode", ["dense", "csr", "nm", "auto"])
def test_host_c_matches_reference(mode, sparse_tflite, mnist, tmp_path, int8_inputs):
    g = read_tflite(sparse_tflite)
    x = int8_inputs(mnist.test_images[:300])
    gen = generate_c(g, mode, golden_input=x[0])
    exe = build_host_runner(_write(gen, tmp_path / "c"), tmp_path / "b")
    got = run_host(exe, x, 10)
    want = run(g, x).reshape(300, 10)
    bad = np.flatnonzero((got != want).any(axis=1))
    assert bad.size == 0, f"{mode}: {bad.size} images differ, first {bad[:10].tolist()}"
    if mode == "nm":
        assert all(r["chosen"].startswith("nm") for r in gen.report["layers"])


@needs_gcc
def test_profile_hooks_compile(dense_export, tmp_path):
    gen = generate_c(read_tflite(dense_export[1]), "auto")
    d = _write(gen, tmp_path / "c")
    build_host_runner(d, tmp_path / "b", profile=True)
    assert "tdm_layer_begin(i)" in gen.source


@pytest.mark.parametrize("mode", ["csr", "nm"])
def test_sparse_convs_store_only_what_their_kernels_read(mode, sparse_tflite):
    """A sparse conv's kernel reads its taps (offsets and values), row pointers and row sums:
    the generator leaves values, column indices and N:M metadata out of flash."""
    from tinydeploy.tdnn.formats import get_format

    graph = read_tflite(sparse_tflite)
    gen = generate_c(graph, mode)
    convs = [layer for layer in gen.layers if layer.kind == "conv"]
    fcs = [layer for layer in gen.layers if layer.kind == "fc"]
    assert convs and fcs
    for layer in convs:
        p = layer.op.name
        fmt = get_format(layer.encoding.format)
        assert fmt.conv_taps
        assert f"{p}_taps_data" in gen.source and f"{p}_row_sum" in gen.source
        for dropped in ("values", "col_idx_u8", "col_idx_u16", "col_delta_u8", "meta"):
            assert f"{p}_{dropped}[" not in gen.source
        row = next(r for r in gen.report["layers"] if r["layer"] == layer.name)
        full = layer.encoding.nbytes + 4 * fmt.executed_entries(layer.encoding)
        assert row["weight_bytes"] == fmt.for_conv(layer.encoding).nbytes \
            + 4 * fmt.executed_entries(layer.encoding) < full
    for layer in fcs:  # fully connected kernels read the whole encoding
        assert f"{layer.op.name}_values[" in gen.source
