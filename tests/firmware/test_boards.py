"""Board profiles: registry, errors, agreement with the PlatformIO boards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixture_ref import FC_MODEL

from tinydeploy.cli.main import main
from tinydeploy.errors import FirmwareError
from tinydeploy.firmware.boards import (
    BOARDS_DIR,
    BOARDS_ENV,
    DEFAULT_BOARD,
    board_names,
    get_board,
)
from tinydeploy.resources import firmware_dir

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
    pio = json.loads((firmware_dir() / "platform" / "boards" / f"{b.pio_env}.json").read_text())
    assert pio["build"]["qemu_machine"] == b.qemu_machine
    assert int(pio["build"]["uart_base"], 16) == b.uart_base
    assert int(pio["build"]["f_cpu"].rstrip("L")) == b.clock_hz
    assert pio["upload"]["maximum_size"] == b.flash_bytes
    assert b.semihosting and b.unit == "instructions"


def test_every_profile_has_a_platformio_env():
    ini = (firmware_dir() / "platformio.ini").read_text()
    for name in board_names():
        assert f"[env:{get_board(name).pio_env}]" in ini


@pytest.mark.firmware
def test_adding_a_board_is_one_file(tmp_path: Path, capsys):
    """A profile in a folder of the user's own, named by --boards-dir, builds and runs."""
    boards = tmp_path / "my-boards"
    boards.mkdir()
    src = (BOARDS_DIR / "qemu-m4.toml").read_text()
    assert "flash_bytes = 4_194_304" in src
    (boards / "my-board.toml").write_text(
        src.replace("flash_bytes = 4_194_304", "flash_bytes = 262_144"))
    assert main(["firmware", "boards", "--boards-dir", str(boards)]) == 0
    listing = capsys.readouterr().out
    assert "my-board" in listing and str(boards / "my-board.toml") in listing
    out = tmp_path / "run"
    rc = main(["firmware", "run", "--boards-dir", str(boards), "--board", "my-board",
               "--model-dir", str(FC_MODEL), "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    report = json.loads((out / "bench.json").read_text())
    assert report["status"] == "ok" and report["board"]["name"] == "my-board"
    assert report["board"]["flash_bytes"] == 262_144
    assert (out / "project" / "platformio.ini").is_file()  # the project lives in the run dir


def test_user_board_dir_from_environment(tmp_path: Path, monkeypatch):
    (tmp_path / "env-board.toml").write_text((BOARDS_DIR / "qemu-m4.toml").read_text())
    monkeypatch.setenv(BOARDS_ENV, str(tmp_path))
    assert "env-board" in board_names()
    assert get_board("env-board").path == tmp_path / "env-board.toml"
    monkeypatch.setenv(BOARDS_ENV, str(tmp_path / "missing"))
    with pytest.raises(FirmwareError, match="does not exist"):
        board_names()


def test_profile_must_name_a_project_env(tmp_path: Path):
    src = (BOARDS_DIR / "qemu-m4.toml").read_text()
    (tmp_path / "odd.toml").write_text(src.replace('pio_env = "qemu_an386"', 'pio_env = "x"'))
    with pytest.raises(FirmwareError, match="not an environment"):
        get_board("odd", tmp_path)


def test_bad_profile_is_a_clear_error(tmp_path: Path):
    (tmp_path / "broken.toml").write_text('core = "cortex-m4"\n')
    with pytest.raises(FirmwareError, match="lacks"):
        get_board("broken", tmp_path)
