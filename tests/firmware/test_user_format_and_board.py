"""Adding a weight format and a board is adding files: both come from a temporary folder
only (tests/firmware/fixtures/user_format: a Python module and its two C files; a board
profile written here) and go through format choice, C generation, the host kernel library
and a firmware build run on QEMU, bit-exact with the reference executor."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from test_generated_model import N, _small_graph

from tinydeploy import codegen
from tinydeploy.firmware.bench import plan, run_plan
from tinydeploy.firmware.boards import BOARDS_DIR, BOARDS_ENV, get_board
from tinydeploy.firmware.build import BuildSettings
from tinydeploy.firmware.testdata import make_vectors
from tinydeploy.ir.reference import run
from tinydeploy.tdnn.formats import FORMATS_ENV, format_names, get_format
from tinydeploy.tdnn.host import load_hostlib

pytestmark = pytest.mark.firmware
FIXTURE = Path(__file__).parent / "fixtures" / "user_format"


@pytest.fixture
def user_folders(tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    formats = tmp_path / "my-formats"
    shutil.copytree(FIXTURE, formats, ignore=shutil.ignore_patterns("__pycache__"))
    boards = tmp_path / "my-boards"
    boards.mkdir()
    profile = (BOARDS_DIR / "qemu-m4.toml").read_text()
    assert "flash_bytes = 4_194_304" in profile
    (boards / "my-m4.toml").write_text(profile.replace("flash_bytes = 4_194_304",
                                                       "flash_bytes = 524_288"))
    monkeypatch.setenv(FORMATS_ENV, str(formats))
    monkeypatch.setenv(BOARDS_ENV, str(boards))
    return formats, boards


def test_the_users_format_is_registered_and_round_trips(user_folders):
    assert "bitmask" in format_names()
    w = np.random.default_rng(0).integers(-127, 128, (5, 19)).astype(np.int8)
    w[w % 3 == 0] = 0
    fmt = get_format("bitmask")
    enc = fmt.encode(w)
    assert enc.arrays["mask"].size == 5 * 3 and enc.scalars["nnz"] == np.count_nonzero(w)
    np.testing.assert_array_equal(fmt.decode(enc), w)


def test_the_users_kernel_runs_in_the_host_library(user_folders, tmp_path: Path):
    rng = np.random.default_rng(2)
    w = rng.integers(-127, 128, (6, 40)).astype(np.int8)
    w[rng.random(w.shape) < 0.6] = 0
    x = rng.integers(-128, 128, 40).astype(np.int8)
    bias = rng.integers(-3000, 3000, 6).astype(np.int32)
    host = load_hostlib(tmp_path / "cache")
    dense = host.fc(x, get_format("dense").encode(w), bias, 1 << 30, -8, 128, -3)
    users = host.fc(x, get_format("bitmask").encode(w), bias, 1 << 30, -8, 128, -3)
    np.testing.assert_array_equal(users, dense)
    assert host.fc_buffer_size(40, get_format("bitmask").encode(w)) == 0


def test_generated_model_with_the_users_format_runs_on_the_users_board(user_folders,
                                                                       tmp_path: Path):
    graph = _small_graph(0.7)
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, size=(N, 8, 8, 1)).astype(np.int8)
    gen = codegen.generate_c(graph, "csr", golden_input=x[0], provenance="test",
                             layer_formats={"fc1": "bitmask"})
    assert [layer.encoding.format for layer in gen.layers if layer.encoding] == [
        "csr", "bitmask"]
    assert '#include "td_bitmask.h"' in gen.source and "td_fc_bitmask_s8(" in gen.source
    assert {"td_bitmask.h", "td_fc_bitmask_s8.c"} <= set(gen.files)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for name, text in gen.files.items():
        (model_dir / name).write_text(text)
    expected = run(graph, x).reshape(N, -1)
    board = get_board("my-m4")
    assert board.path.parent == user_folders[1]
    bp = plan(board, model_dir, tmp_path / "work",
              vectors=make_vectors(x.reshape(N, -1), np.argmax(expected, axis=1), expected,
                                   "test"))
    report = run_plan(bp, BuildSettings())
    m = report["measured"]
    assert report["status"] == "ok", report
    assert m["expected_outputs"]["bit_exact"], m["expected_outputs"]["first_mismatches"]
    assert m["accuracy"]["correct"] == N
    assert report["board"]["name"] == "my-m4" and report["board"]["flash_bytes"] == 524_288
