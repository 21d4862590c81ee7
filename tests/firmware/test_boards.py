"""Board profiles: registry, errors, agreement with the PlatformIO boards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tinydeploy.errors import FirmwareError
from tinydeploy.firmware.boards import BOARDS_DIR, DEFAULT_BOARD, board_names, get_board
from tinydeploy.firmware.toolchain import FIRMWARE_DIR

QEMU_BOARDS = ["qemu-m3", "qemu-m4", "qemu-m7", "qemu-m33", "qemu-m55"]
REAL_BOARDS = ["nucleo_f446re", "nucleo_h743zi", "disco_f746ng", "nano33ble"]


def test_all_profiles_load():
    assert set(QEMU_BOARDS + REAL_BOARDS) <= set(board_names())
    assert get_board(DEFAULT_BOARD).core == "cortex-m4"
    for name in REAL_BOARDS:
        b = get_board(name)
        assert not b.is_qemu and b.counter == "dwt" and b.unit == "cycles"
        assert not b.semihosting


def test_unknown_board_lists_choices():
    with pytest.raises(FirmwareError) as exc:
        get_board("qemu-m99")
    msg = str(exc.value)
    assert "qemu-m99" in msg
    for name in QEMU_BOARDS + REAL_BOARDS:
        assert name in msg


@pytest.mark.parametrize("name", QEMU_BOARDS)
def test_qemu_profile_matches_platformio_board(name):
    b = get_board(name)
    pio = json.loads((FIRMWARE_DIR / "platform" / "boards" / f"{b.pio_env}.json").read_text())
    assert pio["build"]["qemu_machine"] == b.qemu_machine
    assert int(pio["build"]["uart_base"], 16) == b.uart_base
    assert int(pio["build"]["f_cpu"].rstrip("L")) == b.clock_hz
    assert pio["upload"]["maximum_size"] == b.flash_bytes
    assert b.semihosting and b.unit == "instructions"


def test_every_profile_has_a_platformio_env():
    ini = (FIRMWARE_DIR / "platformio.ini").read_text()
    for name in board_names():
        assert f"[env:{get_board(name).pio_env}]" in ini


def test_adding_a_board_is_one_file(tmp_path: Path):
    src = (BOARDS_DIR / "qemu-m4.toml").read_text()
    (tmp_path / "my-board.toml").write_text(src.replace("25_000_000", "50_000_000"))
    b = get_board("my-board", tmp_path)
    assert b.clock_hz == 50_000_000 and b.counts_per_tick() == 20.0


def test_bad_profile_is_a_clear_error(tmp_path: Path):
    (tmp_path / "broken.toml").write_text('core = "cortex-m4"\n')
    with pytest.raises(FirmwareError, match="lacks"):
        get_board("broken", tmp_path)
