"""`tinydeploy flash` and `tinydeploy bench --port` without PlatformIO's online platforms.

The uploader is a stand-in `openocd` (fake_openocd.py) first on PATH: it records its
arguments and emulates the board's flash, so the command lines, the read-back verification
and its failure are checked for real. For `bench`, its `reset run` starts the flashed
firmware on QEMU's STM32F405 machine: the report is read from the chip's USART through a
real pseudo-terminal, as from a board's virtual COM port.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import sys
from pathlib import Path

import pytest
from fixture_ref import FC_MODEL, FIXTURES

from tinydeploy.cli.main import main as cli
from tinydeploy.errors import FirmwareError
from tinydeploy.firmware.boards import BOARDS_DIR, get_board
from tinydeploy.firmware.flash import find_uploader, load_base

pytestmark = pytest.mark.firmware
FAKE = FIXTURES.parent / "fake_openocd.py"
# An STM32F405 board as a user would describe it: a real board (no qemu_machine, board-mode
# firmware), built by the bare-metal env QEMU's netduinoplus2 machine also runs.
F405_BOARD = """description = "an STM32F405 board (flashed with OpenOCD)"
core = "cortex-m4"
clock_hz = 168_000_000
flash_bytes = 1_048_576
ram_bytes = 131_072
counter = "dwt"
pio_env = "netduinoplus2"
semihosting = false
uploaders = ["openocd"]
openocd_target = "stm32f4x"
flash_base = 0x08000000
"""


@pytest.fixture
def fake_openocd(tmp_path: Path, monkeypatch) -> Path:
    """A fake `openocd` first on PATH; returns its state folder (calls.jsonl, flash.bin)."""
    bin_dir, state = tmp_path / "bin", tmp_path / "uploader"
    bin_dir.mkdir()
    state.mkdir()
    tool = bin_dir / "openocd"
    tool.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_UPLOADER_DIR", str(state))
    yield state
    pid_file = state / "qemu.pid"
    if pid_file.exists():  # the emulated board the fake started
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)


def _calls(state: Path) -> list[list[str]]:
    return [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]


def test_flash_writes_reads_back_and_resets(fake_openocd, tmp_path, capsys):
    out = tmp_path / "work"
    rc = cli(["flash", "--board", "nucleo_f446re", "--model-dir", str(FC_MODEL), "-o", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    elf = out / "pio" / "nucleo_f446re" / "firmware.elf"
    image = elf.with_suffix(".bin").read_bytes()
    assert load_base(elf) == 0x08000000
    target = ["-f", "interface/stlink.cfg", "-f", "target/stm32f4x.cfg"]
    write, read, reset = _calls(fake_openocd)
    assert write == [*target, "-c", f'program "{elf}" verify exit']
    readback = out / "flash-readback.bin"
    assert read == [*target, "-c", "init", "-c", "halt", "-c",
                    f'dump_image "{readback}" 0x8000000 {len(image)}', "-c", "shutdown"]
    assert reset == [*target, "-c", "init", "-c", "reset run", "-c", "shutdown"]
    assert readback.read_bytes() == image
    assert f"flashed {len(image)} bytes" in captured.out and "verified" in captured.out
    assert "openocd" in (out / "flash.log").read_text()


def test_flash_refuses_an_image_that_reads_back_different(fake_openocd, tmp_path, monkeypatch,
                                                          capsys):
    monkeypatch.setenv("FAKE_CORRUPT", "100")
    rc = cli(["flash", "--board", "nucleo_f446re", "--model-dir", str(FC_MODEL),
              "-o", str(tmp_path / "work")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "verification failed: flash at 0x08000064 holds" in err
    assert len(_calls(fake_openocd)) == 2  # no reset after a failed verification


def test_flash_names_the_package_of_each_uploader(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no uploader, no toolchain: fails before both
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    rc = cli(["flash", "--board", "nucleo_f446re", "--model-dir", str(FC_MODEL),
              "-o", str(tmp_path / "work")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "no uploader for nucleo_f446re found on PATH" in err
    assert "sudo apt-get update && sudo apt-get install -y openocd" in err
    assert "apt-get install -y stlink-tools" in err
    assert f"{tmp_path / 'python'} -m pip install pyocd" in err
    assert not (tmp_path / "work").exists()  # nothing built
    with pytest.raises(FirmwareError, match="can be flashed with openocd, stlink, pyocd"):
        find_uploader(get_board("nucleo_f446re"), "jlink")


def test_flash_and_bench_refuse_qemu_boards_and_missing_ports(capsys):
    assert cli(["flash", "--board", "netduinoplus2", "--model-dir", str(FC_MODEL)]) == 2
    assert "QEMU board" in capsys.readouterr().err
    assert cli(["bench", "--board", "nucleo_f446re", "--model-dir", str(FC_MODEL)]) == 2
    assert "pass --port" in capsys.readouterr().err


def test_bench_flashes_an_emulated_board_and_reads_its_usart(fake_openocd, tmp_path,
                                                             monkeypatch):
    """The real-board path end to end: build, flash (fake OpenOCD), read back, reset (QEMU
    netduinoplus2 starts the flashed image), start byte and report over the USART's pty."""
    boards = tmp_path / "boards"
    boards.mkdir()
    (boards / "f405-board.toml").write_text(F405_BOARD)
    monkeypatch.setenv("FAKE_QEMU_MACHINE", "netduinoplus2")
    out = tmp_path / "work"
    rc = cli(["bench", "--boards-dir", str(boards), "--board", "f405-board", "--model-dir",
              str(FC_MODEL), "--port", str(fake_openocd / "tty"), "--silence-timeout", "20",
              "-o", str(out)])
    assert rc == 0, (out / "uart-chunk0.log").read_text() if out.exists() else "no output"
    report = json.loads((out / "bench.json").read_text())
    m = report["measured"]
    assert report["status"] == "ok" and m["expected_outputs"]["bit_exact"]
    # a real board's firmware finds DWT not counting (QEMU) and says so; cycles, not mixed
    assert m["unit"] == "cycles" and m["counter"]["kind"] == "systick"
    assert m["counter"]["note"].startswith("DWT CYCCNT did not count on this board")
    assert m["per_inference"]["cycles_mean"] > 0
    log = (out / "uart-chunk0.log").read_text()
    assert "TD:BEGIN board=f405-board counter=systick" in log and "dwt=not-counting" in log
    assert "TD:END status=ok code=0" in log
    program, _read_back, reset = _calls(fake_openocd)
    elf = out / "pio" / "netduinoplus2" / "firmware.elf"
    assert program[-1] == f'program "{elf}" verify exit'
    assert "reset run" in reset and (fake_openocd / "qemu.pid").exists()


def test_profiles_that_flash_name_their_targets(tmp_path):
    for name in ("nucleo_f446re", "nucleo_h743zi", "disco_f746ng"):
        b = get_board(name)
        assert b.uploaders == ("openocd", "stlink", "pyocd") and b.flash_base == 0x08000000
        assert b.openocd_target.startswith("stm32") and b.pyocd_target.startswith("stm32")
    src = (BOARDS_DIR / "nucleo_f446re.toml").read_text().replace(
        'openocd_target = "stm32f4x"\n', "")
    (tmp_path / "no-target.toml").write_text(src)
    with pytest.raises(FirmwareError, match="its uploaders need openocd_target"):
        get_board("no-target", tmp_path)
