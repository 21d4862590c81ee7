"""The bare-metal STM32 port: QEMU's STM32 machines run the harness bit-exact over the chip's
own USART (on a pty); the real boards build offline; profiles, PlatformIO boards and linker
scripts agree on each chip's real flash and RAM."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from fixture_ref import FC_MODEL, copy_model, make_vectors

from tinydeploy.cli.main import main as cli
from tinydeploy.errors import FirmwareError
from tinydeploy.firmware.bench import plan, run_plan
from tinydeploy.firmware.boards import get_board
from tinydeploy.firmware.build import BuildSettings
from tinydeploy.firmware.counter import NOTE_QEMU_FALLBACK
from tinydeploy.firmware.elfsize import symbol_sizes
from tinydeploy.firmware.flash import load_base
from tinydeploy.firmware.testdata import make_vectors as to_vectors
from tinydeploy.resources import firmware_dir

pytestmark = pytest.mark.firmware
QEMU_STM32 = ["netduinoplus2", "stm32vldiscovery"]
REAL_STM32 = ["nucleo_f446re", "nucleo_h743zi", "disco_f746ng"]
N = 12


@pytest.fixture(scope="module")
def f405(tmp_path_factory) -> dict:
    """The fixture model with N test vectors on QEMU netduinoplus2 (STM32F405)."""
    x, labels, y = make_vectors(N)
    bp = plan(get_board("netduinoplus2"), FC_MODEL, tmp_path_factory.mktemp("f405"),
              vectors=to_vectors(x, labels, y))
    report = run_plan(bp, BuildSettings())
    report["_work_dir"], report["_labels"], report["_expected"] = bp.work_dir, labels, y
    return report


def test_f405_runs_bit_exact_over_usart1(f405):
    m = f405["measured"]
    assert f405["status"] == "ok" and m["images"] == N
    assert m["expected_outputs"]["bit_exact"] and m["expected_outputs"]["mismatch_images"] == 0
    y, labels = f405["_expected"], f405["_labels"]
    assert m["accuracy"]["correct"] == int((np.argmax(y, axis=1) == labels).sum()) == N - 3
    assert [layer["name"] for layer in m["per_layer"]] == ["fc1", "fc2"]
    log = (f405["_work_dir"] / "uart-chunk0.log").read_text()
    assert "TD:BEGIN board=netduinoplus2 counter=systick" in log
    assert "TD:END status=ok code=0" in log


def test_f405_reports_instructions_and_why(f405):
    """QEMU does not emulate DWT CYCCNT nor RCC: the port detects both and says so; the host
    converts SysTick at QEMU's 168 MHz into instructions retired."""
    m = f405["measured"]
    assert m["unit"] == "instructions"
    c = m["counter"]
    assert c["kind"] == "systick" and c["dwt"] == "not-counting" and c["note"] == NOTE_QEMU_FALLBACK
    assert c["clock"] == "reset" and c["firmware_counter_hz"] == 16_000_000  # HSI: no RCC
    assert c["counts_per_tick"] == pytest.approx(1e9 / 168e6)
    per = m["per_inference"]
    assert 500 < per["instructions_mean"] < 5000
    assert per["instructions_mean"] == pytest.approx(per["ticks_sum"] / N * 1e9 / 168e6, abs=0.1)


def test_f405_sizes_against_the_chip(f405):
    board, f, r = f405["board"], f405["flash_bytes"], f405["ram_bytes"]
    assert (board["flash_bytes"], board["ram_bytes"]) == (1_048_576, 131_072)
    assert f["weights"] == 208 and 0 < f["total"] < board["flash_bytes"]
    assert 0 < r["peak"] == r["static_total"] + r["stack_high_water"] < board["ram_bytes"]


def test_f100_runs_in_8k_of_sram(tmp_path):
    bp = plan(get_board("stm32vldiscovery"), FC_MODEL, tmp_path)
    report = run_plan(bp, BuildSettings())
    m = report["measured"]
    assert report["status"] == "ok" and m["expected_outputs"]["bit_exact"]
    assert m["unit"] == "instructions"
    assert m["counter"]["counts_per_tick"] == pytest.approx(1e9 / 24e6)
    assert m["stack"]["reserved_bytes"] == 3072  # its linker script's default, not 32 KB
    assert report["ram_bytes"]["static_total"] + 3072 <= 8192


def test_f100_budget_refuses_what_8k_cannot_hold(tmp_path):
    board = get_board("stm32vldiscovery")
    fits = plan(board, copy_model(tmp_path / "a", arena="4000"), tmp_path / "wa")
    assert fits.footprint.ram_bytes == 4000 + 4 + 3072 <= 8192
    with pytest.raises(FirmwareError) as exc:
        plan(board, copy_model(tmp_path / "b", arena="6000"), tmp_path / "wb")
    assert "RAM: needs 9076 bytes" in str(exc.value) and "has 8192" in str(exc.value)
    big = '#include <stdint.h>\nconst int8_t td_big_weights[130000] = {1};\n'
    with pytest.raises(FirmwareError, match=r"flash: needs .* has 131072"):
        plan(board, copy_model(tmp_path / "c", extra_c=big), tmp_path / "wc")


@pytest.mark.parametrize("name", REAL_STM32)
def test_real_board_builds_offline(name, tmp_path, capsys, record_property):
    """CI's offline build of each real board: ELF at the chip's flash base, sizes, budget."""
    out = tmp_path / "w"
    rc = cli(["firmware", "build", "--board", name, "--model-dir", str(FC_MODEL),
              "-o", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    board = get_board(name)
    assert f"budget: fits {name}" in captured.err
    info = json.loads((out / "build.json").read_text())
    elf = Path(info["elf"])
    assert load_base(elf) == board.flash_base == 0x08000000
    assert 0 < info["flash_bytes"]["total"] < board.flash_bytes
    assert info["flash_bytes"]["weights"] == 208
    record_property("summary", (
        f"{name} (fixture model): flash {info['flash_bytes']['total']} of {board.flash_bytes} "
        f"B, static RAM {info['ram_static_bytes']} B + stack {info['stack_reserved_bytes']} B "
        f"of {board.ram_bytes} B"))
    text = subprocess.run(["arm-none-eabi-objdump", "-d", str(elf)], capture_output=True,
                          text=True, check=True).stdout
    assert "bkpt\t0x00ab" not in text  # no semihosting: it would fault without a debugger
    caches = symbol_sizes(elf, {"td_stm32_caches_enable"})["td_stm32_caches_enable"]
    assert (caches > 40) == (board.core == "cortex-m7")  # Cortex-M7: caches turned on


def test_qemu_builds_exit_through_semihosting(tmp_path):
    bp = plan(get_board("netduinoplus2"), FC_MODEL, tmp_path)
    from tinydeploy.firmware.bench import build_chunk

    elf, _ = build_chunk(bp, 0, BuildSettings())
    text = subprocess.run(["arm-none-eabi-objdump", "-d", str(elf)], capture_output=True,
                          text=True, check=True).stdout
    assert "bkpt\t0x00ab" in text


def _ld_memory(name: str) -> dict[str, tuple[int, int]]:
    text = (firmware_dir() / "platform" / "ldscripts" / name).read_text()
    units = {"": 1, "K": 1024, "M": 1024 * 1024}
    return {m[0]: (int(m[1], 16), int(m[2]) * units[m[3]]) for m in re.findall(
        r"(\w+) \(\w+\) : ORIGIN = 0x([0-9A-Fa-f]+), LENGTH = (\d+)([KM]?)", text)}


@pytest.mark.parametrize("name", QEMU_STM32 + REAL_STM32)
def test_profile_board_and_linker_script_agree(name):
    b = get_board(name)
    pio = json.loads((firmware_dir() / "platform" / "boards" / f"{b.pio_env}.json").read_text())
    build = pio["build"]
    assert build["port"] == "stm32"
    assert int(build["f_cpu"].rstrip("L")) == b.clock_hz
    assert int(build["uart_base"], 16) == b.uart_base
    assert (pio["upload"]["maximum_size"], pio["upload"]["maximum_ram_size"]) == (
        b.flash_bytes, b.ram_bytes)
    mem = _ld_memory(build["ldscript"])
    assert mem["CODE"] == (0x08000000, b.flash_bytes)
    assert mem["RAM"][1] == b.ram_bytes
    assert build.get("qemu_machine") == b.qemu_machine
    assert b.semihosting == b.is_qemu and b.unit == ("instructions" if b.is_qemu else "cycles")
