"""Build the harness with PlatformIO and run it under QEMU through the pty serial path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fixture_ref import FC_MODEL, FIXTURES, copy_model, make_vectors

from tinydeploy.cli.main import main as cli
from tinydeploy.errors import FirmwareError
from tinydeploy.firmware.bench import build_chunk, plan, run_plan
from tinydeploy.firmware.boards import get_board
from tinydeploy.firmware.build import BuildSettings
from tinydeploy.firmware.qemu import FirmwareFault, QemuCrash, run_qemu
from tinydeploy.firmware.serialio import FirmwareTimeout
from tinydeploy.firmware.testdata import make_vectors as to_vectors

pytestmark = pytest.mark.firmware
SETTINGS = BuildSettings()
N = 20


@pytest.fixture(scope="module")
def m4_bench(tmp_path_factory) -> dict:
    """The fixture model with N test vectors on qemu-m4, in chunks of 8 (3 builds + runs)."""
    x, labels, y = make_vectors(N)
    bp = plan(get_board("qemu-m4"), FC_MODEL, tmp_path_factory.mktemp("m4"),
              vectors=to_vectors(x, labels, y), chunk_cap=8)
    assert bp.chunks == [(0, 8), (8, 8), (16, 4)]
    report = run_plan(bp, SETTINGS)
    report["_work_dir"] = bp.work_dir
    report["_labels"], report["_expected"] = labels, y
    return report


def test_fixture_runs_bit_exact_on_m4(m4_bench):
    m = m4_bench["measured"]
    assert m4_bench["status"] == "ok"
    assert m["images"] == N and m["unit"] == "instructions"
    assert m["expected_outputs"] == {
        "mismatch_images": 0, "mismatch_bytes": 0, "first_mismatches": [], "bit_exact": True,
    }
    y, labels = m4_bench["_expected"], m4_bench["_labels"]
    host_correct = int((np.argmax(y, axis=1) == labels).sum())
    assert m["accuracy"]["correct"] == host_correct == N - 4  # every 5th label is wrong
    # instructions retired: ticks * 40 at 25 MHz under -icount shift=0
    assert m["per_inference"]["counts_per_tick"] == 40.0
    per_inf = m["per_inference"]["instructions_mean"]
    assert 500 < per_inf < 5000
    assert [layer["name"] for layer in m["per_layer"]] == ["fc1", "fc2"]
    assert sum(layer["instructions_mean"] for layer in m["per_layer"]) <= per_inf
    # the UART logs are kept, each ending with the sentinel
    for i in range(3):
        log = (m4_bench["_work_dir"] / f"uart-chunk{i}.log").read_text()
        assert "TD:END status=ok code=0" in log


def test_flash_and_ram_from_elf(m4_bench):
    f, r = m4_bench["flash_bytes"], m4_bench["ram_bytes"]
    # weights: w1 128 + b1 32 + w2 32 + b2 16 bytes of the fixture
    assert f["weights"] == 208
    assert 0 < f["code"] < 1024 and f["other"] > 0
    assert f["total"] == f["code"] + f["weights"] + f["other"]
    assert f["test_data_excluded"] >= 4 * (16 + 4 + 2)  # sizes of the last chunk (4 images)
    assert r["activations"] == 8 + 4
    assert 0 < r["stack_high_water"] < 2048
    assert r["peak"] == r["static_total"] + r["stack_high_water"]
    saved = json.loads((m4_bench["_work_dir"] / "bench.json").read_text())
    assert saved["flash_bytes"] == f


@pytest.mark.parametrize("board", ["qemu-m3", "qemu-m7", "qemu-m33", "qemu-m55"])
def test_other_qemu_boards_run_golden(board, tmp_path):
    """Golden vector only (no test_vectors.npz): one build + run per board."""
    bp = plan(get_board(board), FC_MODEL, tmp_path)
    report = run_plan(bp, SETTINGS)
    m = report["measured"]
    assert report["status"] == "ok" and m["images"] == 1
    assert m["expected_outputs"]["bit_exact"]
    assert m["per_inference"]["instructions_mean"] > 0
    assert m["accuracy"]["labelled"] == 0


def test_output_mismatch_is_reported(tmp_path):
    x, labels, y = make_vectors(3)
    y = y.copy()
    y[1, 2] = np.int8(y[1, 2] ^ 1)
    bp = plan(get_board("qemu-m4"), FC_MODEL, tmp_path, vectors=to_vectors(x, labels, y))
    report = run_plan(bp, SETTINGS)
    exp = report["measured"]["expected_outputs"]
    assert report["status"] == "mismatch"
    assert exp["mismatch_images"] == 1 and exp["mismatch_bytes"] == 1
    assert exp["first_mismatches"] == [{"i": 1, "k": 2, "got": int(y[1, 2] ^ 1),
                                        "want": int(y[1, 2])}]


def test_hardfault_is_a_distinct_error(tmp_path):
    bp = plan(get_board("qemu-m4"), FIXTURES / "hardfault_model", tmp_path)
    elf, _ = build_chunk(bp, 0, SETTINGS)
    with pytest.raises(FirmwareFault, match="HardFault"):
        run_qemu(get_board("qemu-m4"), elf, timeout=30, silence_timeout=10)


@pytest.fixture(scope="module")
def hang_elf(tmp_path_factory) -> Path:
    bp = plan(get_board("qemu-m4"), FIXTURES / "hang_model", tmp_path_factory.mktemp("hang"))
    return build_chunk(bp, 0, SETTINGS)[0]


def test_silent_firmware_times_out(hang_elf):
    with pytest.raises(FirmwareTimeout, match="serial silence"):
        run_qemu(get_board("qemu-m4"), hang_elf, timeout=60, silence_timeout=1.5)


def test_hung_firmware_hits_the_deadline(hang_elf):
    with pytest.raises(FirmwareTimeout, match="within 2 s"):
        run_qemu(get_board("qemu-m4"), hang_elf, timeout=2, silence_timeout=60)


def test_qemu_crash_is_reported(tmp_path):
    bad = tmp_path / "firmware.elf"
    bad.write_bytes(b"\x7fELF not really")
    with pytest.raises(QemuCrash, match="QEMU"):
        run_qemu(get_board("qemu-m4"), bad, timeout=10, silence_timeout=5)


def test_model_too_big_for_ram_is_refused(tmp_path):
    model = copy_model(tmp_path, arena="(8u * 1024 * 1024)")
    with pytest.raises(FirmwareError) as exc:
        plan(get_board("qemu-m4"), model, tmp_path / "w")
    msg = str(exc.value)
    assert "RAM" in msg and str(8 * 1024 * 1024) in msg and "4194304" in msg
    assert not (tmp_path / "w").exists()  # refused before any build


def test_model_too_big_for_flash_is_refused(tmp_path):
    big = '#include <stdint.h>\nconst int8_t td_big_weights[600000] = {1};\n'
    model = copy_model(tmp_path, extra_c=big)
    with pytest.raises(FirmwareError) as exc:
        plan(get_board("qemu-m55"), model, tmp_path / "w")
    msg = str(exc.value)
    assert "flash" in msg and "weights 600208" in msg and "524288" in msg


def test_missing_toolchain_names_the_apt_packages(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FirmwareError, match="apt-get install -y gcc-arm-none-eabi"):
        plan(get_board("qemu-m4"), FC_MODEL, tmp_path / "w")
    with pytest.raises(FirmwareError, match="qemu-system-arm not found"):
        run_qemu(get_board("qemu-m4"), tmp_path / "x.elf")


def test_cli_errors_exit_non_zero(tmp_path, capsys):
    assert cli(["firmware", "run", "--board", "nope", "--model-dir", str(FC_MODEL)]) == 2
    err = capsys.readouterr().err
    assert "unknown board 'nope'" in err and "qemu-m4" in err and "nucleo_f446re" in err
    rc = cli(["firmware", "run", "--board", "qemu-m4", "--model-dir",
              str(FIXTURES / "hardfault_model"), "-o", str(tmp_path / "hf")])
    assert rc == 2 and "HardFault" in capsys.readouterr().err
    assert cli(["flash", "--board", "qemu-m4", "--model-dir", str(FC_MODEL)]) == 2
    assert "firmware run" in capsys.readouterr().err


def test_cli_run_writes_report(tmp_path, capsys):
    rc = cli(["firmware", "run", "--board", "qemu-m4", "--model-dir", str(FC_MODEL),
              "-o", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "instructions/inference" in out and "fc1" in out
    assert json.loads((tmp_path / "bench.json").read_text())["status"] == "ok"
