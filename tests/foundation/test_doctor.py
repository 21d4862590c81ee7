"""`tinydeploy doctor` and the firmware commands' pre-flight checks: real tools on this
machine, and the failure paths with the tools taken off PATH or newlib hidden."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

from tinydeploy.cli.main import main

FC_MODEL = Path(__file__).resolve().parents[1] / "firmware" / "fixtures" / "fc_model"


def _doctor(capsys) -> tuple[int, dict[str, dict]]:
    rc = main(["doctor", "--json"])
    out = capsys.readouterr().out
    return rc, {f["topic"]: f for f in json.loads(out)}


@pytest.mark.firmware
def test_doctor_passes_on_a_set_up_machine(capsys):
    rc, found = _doctor(capsys)
    assert rc == 0, [f for f in found.values() if f["required"] and not f["ok"]]
    for topic in ("cross compiler", "cross binutils", "newlib nano (C library)", "QEMU",
                  "PlatformIO core", "host C compiler", "Python packages",
                  "browser (report screenshots)", "dataset mnist"):
        assert topic in found, topic
    for board in ("qemu-m3", "qemu-m4", "qemu-m7", "qemu-m33", "qemu-m55"):
        assert found[f"board {board}"]["ok"], board
    assert "12." in found["cross compiler"]["detail"]  # a version, not just a path
    assert "libc_nano.a" in found["newlib nano (C library)"]["detail"]
    assert found["dataset mnist"]["ok"]  # tests read ../shared/datasets


def test_doctor_table_is_readable(capsys):
    main(["doctor"])
    out = capsys.readouterr().out
    assert "tinydeploy doctor" in out and "cross compiler" in out and "dataset mnist" in out


def test_missing_tools_give_the_apt_line_and_exit_1(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    rc, found = _doctor(capsys)
    assert rc == 1
    assert not found["cross compiler"]["ok"]
    assert "apt-get install -y gcc-arm-none-eabi" in found["cross compiler"]["fix"]
    assert "libnewlib-arm-none-eabi" in found["newlib nano (C library)"]["fix"]
    assert "qemu-system-arm" in found["QEMU"]["fix"]
    assert not found["browser (report screenshots)"]["required"]  # optional: a warning


def _wrapper(bin_dir: Path, name: str, extra: str) -> None:
    real = shutil.which(name)
    assert real, name
    script = bin_dir / name
    script.write_text(f'#!/bin/sh\nexec {real} {extra} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


@pytest.mark.firmware
def test_hidden_newlib_is_named_before_any_build(capsys, monkeypatch, tmp_path):
    """The real cross compiler, with newlib's headers and libraries out of its reach (as on a
    machine without libnewlib-arm-none-eabi): doctor and `firmware build` name the package."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _wrapper(bin_dir, "arm-none-eabi-gcc", "-nostdinc -nostdlib")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    rc, found = _doctor(capsys)
    assert rc == 1
    newlib = found["newlib nano (C library)"]
    assert not newlib["ok"] and "libnewlib-arm-none-eabi" in newlib["fix"]
    assert found["cross compiler"]["ok"]
    rc = main(["firmware", "build", "--board", "qemu-m4", "--model-dir", str(FC_MODEL),
               "-o", str(tmp_path / "fw")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "cannot build firmware" in err and "libnewlib-arm-none-eabi" in err
    assert "collect2" not in err and "ld:" not in err  # not a linker log
    assert not (tmp_path / "fw" / "pio").exists()  # refused before building


@pytest.mark.firmware
def test_firmware_run_without_qemu_names_the_package(capsys, monkeypatch, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("arm-none-eabi-gcc", "arm-none-eabi-size", "arm-none-eabi-nm",
                 "arm-none-eabi-objcopy", "arm-none-eabi-gcc-ar", "arm-none-eabi-gcc-ranlib",
                 "arm-none-eabi-as", "gcc"):
        if shutil.which(tool):
            (bin_dir / tool).symlink_to(shutil.which(tool))
    monkeypatch.setenv("PATH", str(bin_dir))
    rc = main(["firmware", "run", "--board", "qemu-m4", "--model-dir", str(FC_MODEL),
               "-o", str(tmp_path / "fw")])
    err = capsys.readouterr().err
    assert rc == 2 and "qemu-system-arm" in err and "apt-get install" in err


def test_flash_tools_are_optional_and_named_with_their_package(capsys, monkeypatch, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "openocd"  # OpenOCD prints its version on stderr
    fake.write_text("#!/bin/sh\necho 'Open On-Chip Debugger 0.12.0' >&2\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    _rc, found = _doctor(capsys)
    openocd = found["flash tool openocd"]
    assert openocd["ok"] and "Open On-Chip Debugger 0.12.0" in openocd["detail"]
    for name, fix in (("stlink", "apt-get install -y stlink-tools"),
                      ("pyocd", f"{tmp_path / 'python'} -m pip install pyocd")):
        f = found[f"flash tool {name}"]
        assert not f["ok"] and not f["required"] and fix in f["fix"]
