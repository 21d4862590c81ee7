"""Flashing a real board without PlatformIO's online platforms: OpenOCD, stlink-tools, pyOCD.

The board profile lists the uploaders that can flash it, preferred first, with their target
names. The first one installed (or the one named by `--uploader`) writes the firmware; the
image is then read back with the same tool and compared byte for byte with the `.bin` the
build made, and the board is reset (its firmware waits for `tinydeploy bench`'s start byte).
When no uploader is installed the error names the package that installs each one.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tinydeploy.errors import FirmwareError
from tinydeploy.firmware.boards import BoardProfile

TIMEOUT = 300.0  # seconds per uploader call (a 2 MB read-back over SWD takes well under)
Command = list[str]


def _apt(package: str) -> str:
    return f"sudo apt-get update && sudo apt-get install -y {package}"


def _openocd(exe: str, b: BoardProfile, *commands: str) -> Command:
    cmd = [exe, "-f", "interface/stlink.cfg", "-f", f"target/{b.openocd_target}.cfg"]
    for c in commands:
        cmd += ["-c", c]
    return cmd


@dataclass(frozen=True)
class Uploader:
    """One flash tool: how to write the image, read `size` bytes back, and reset."""

    name: str
    executable: str
    install: str  # the command that installs it ({python}: the running interpreter)
    write: Callable[[str, BoardProfile, Path, Path], Command]  # (exe, board, elf, bin)
    read: Callable[[str, BoardProfile, Path, int], Command]  # (exe, board, out, size)
    reset: Callable[[str, BoardProfile], Command]


UPLOADERS: dict[str, Uploader] = {
    "openocd": Uploader(
        "openocd", "openocd", _apt("openocd"),
        # `program ... verify` makes OpenOCD compare too; the read-back below is ours
        write=lambda exe, b, elf, _bin: _openocd(exe, b, f'program "{elf}" verify exit'),
        read=lambda exe, b, out, size: _openocd(
            exe, b, "init", "halt", f'dump_image "{out}" {b.flash_base:#x} {size}', "shutdown"),
        reset=lambda exe, b: _openocd(exe, b, "init", "reset run", "shutdown"),
    ),
    "stlink": Uploader(
        "stlink", "st-flash", _apt("stlink-tools"),
        write=lambda exe, b, _elf, image: [exe, "write", str(image), f"{b.flash_base:#x}"],
        read=lambda exe, b, out, size: [exe, "read", str(out), f"{b.flash_base:#x}",
                                        f"{size:#x}"],
        reset=lambda exe, b: [exe, "reset"],
    ),
    "pyocd": Uploader(
        "pyocd", "pyocd", "{python} -m pip install pyocd",
        write=lambda exe, b, elf, _bin: [exe, "load", "--target", str(b.pyocd_target),
                                         "--no-reset", "--format", "elf", str(elf)],
        read=lambda exe, b, out, size: [exe, "cmd", "--target", str(b.pyocd_target), "-c",
                                        f"savemem {b.flash_base:#x} {size} {out}"],
        reset=lambda exe, b: [exe, "reset", "--target", str(b.pyocd_target)],
    ),
}


def _which(executable: str) -> str | None:
    """On PATH, or beside the running Python (pyOCD pip-installed into tinydeploy's venv)."""
    found = shutil.which(executable)
    if found:
        return found
    beside = Path(sys.executable).parent / executable
    return str(beside) if beside.is_file() else None


def find_uploader(board: BoardProfile, choice: str | None = None) -> tuple[Uploader, str]:
    """The uploader to flash `board` with and its executable's path (checked before any
    build, so a missing tool is named at once)."""
    if not board.uploaders:
        raise FirmwareError(f"board {board.name} lists no uploaders (`uploaders = [...]` in "
                            f"its profile {board.path})")
    if choice is not None and choice not in board.uploaders:
        raise FirmwareError(f"--uploader {choice!r}: board {board.name} can be flashed with "
                            f"{', '.join(board.uploaders)}")
    for name in (choice,) if choice else board.uploaders:
        path = _which(UPLOADERS[name].executable)
        if path:
            return UPLOADERS[name], path
    wanted = [UPLOADERS[n] for n in ((choice,) if choice else board.uploaders)]
    how = "; ".join(f"{u.name} ({u.executable}): {u.install.format(python=sys.executable)}"
                    for u in wanted)
    raise FirmwareError(f"no uploader for {board.name} found on PATH; install one of them: "
                        f"{how}")


@dataclass(frozen=True)
class FlashResult:
    uploader: str
    executable: str
    image_bytes: int
    commands: list[Command]
    log: Path


def load_base(elf: Path) -> int:
    """The lowest address the ELF loads to (its LOAD segments' physical addresses)."""
    try:
        out = subprocess.run(["arm-none-eabi-readelf", "-lW", str(elf)], capture_output=True,
                             text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise FirmwareError(f"cannot read the program headers of {elf}: {exc}") from exc
    bases = [int(p[3], 16) for p in (line.split() for line in out.splitlines())
             if len(p) > 5 and p[0] == "LOAD" and int(p[4], 16) > 0]
    if not bases:
        raise FirmwareError(f"{elf} has no loadable segment")
    return min(bases)


def flash_image(board: BoardProfile, elf: Path, work_dir: Path, uploader: Uploader,
                exe: str, *, timeout: float = TIMEOUT) -> FlashResult:
    """Write `elf` (and its .bin) to the board, read it back and compare, reset the board."""
    image_path = elf.with_suffix(".bin")
    if not image_path.is_file():
        raise FirmwareError(f"{image_path} is missing: the build makes it beside {elf.name}")
    base = load_base(elf)
    if base != board.flash_base:
        raise FirmwareError(f"{elf} loads at {base:#010x} but board {board.name} flashes at "
                            f"{board.flash_base:#010x}: its linker script and profile disagree")
    image = image_path.read_bytes()
    back_path = work_dir / "flash-readback.bin"
    back_path.unlink(missing_ok=True)
    log = work_dir / "flash.log"
    commands = [uploader.write(exe, board, elf, image_path),
                uploader.read(exe, board, back_path, len(image))]
    with log.open("w") as fp:
        for what, cmd in zip(("write", "read back"), commands, strict=True):
            _run(cmd, what, uploader, fp, log, timeout)
        _verify(image, back_path, base, uploader)
        reset = uploader.reset(exe, board)
        _run(reset, "reset", uploader, fp, log, timeout)
    return FlashResult(uploader.name, exe, len(image), [*commands, reset], log)


def _run(cmd: Command, what: str, uploader: Uploader, fp, log: Path, timeout: float) -> None:
    fp.write(f"$ {' '.join(cmd)}\n")
    fp.flush()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise FirmwareError(f"{uploader.name} ({what}) did not finish within {timeout:.0f} s; "
                            f"log {log}") from exc
    except OSError as exc:
        raise FirmwareError(f"cannot run {cmd[0]}: {exc}") from exc
    fp.write(proc.stdout + proc.stderr)
    fp.flush()
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-12:])
        raise FirmwareError(f"{uploader.name} ({what}) failed with exit code "
                            f"{proc.returncode}; log {log}:\n{tail}")


def _verify(image: bytes, back_path: Path, base: int, uploader: Uploader) -> None:
    if not back_path.is_file():
        raise FirmwareError(f"{uploader.name} reported success but wrote no read-back file")
    back = back_path.read_bytes()
    if back[:len(image)] == image:
        return
    if len(back) < len(image):
        raise FirmwareError(f"verification failed: {uploader.name} read back {len(back)} "
                            f"bytes of the {len(image)}-byte image")
    at = next(i for i, (a, b) in enumerate(zip(image, back, strict=False)) if a != b)
    raise FirmwareError(f"verification failed: flash at {base + at:#010x} holds "
                        f"{back[at]:#04x}, the image has {image[at]:#04x}")
