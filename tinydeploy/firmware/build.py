"""Building the benchmark firmware with PlatformIO (offline for the QEMU boards).

`pio run -e <env>` in a project written into the work directory (see `project.py`), with the
model directory, generated test data, optimisation level and kernel selection passed through
TD_* environment variables (read by the template's tools/td_sources.py) and a build
directory of our own per work directory, so builds of different models never share objects.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tinydeploy.errors import FirmwareError
from tinydeploy.firmware.boards import BoardProfile
from tinydeploy.firmware.project import env_is_local, write_project
from tinydeploy.firmware.requirements import require_firmware_build
from tinydeploy.firmware.toolchain import (
    ensure_scons_shim,
    pio_command,
    pio_environment,
)

OPT_LEVELS = ("O0", "O1", "O2", "O3", "Os", "Oz")
KERNEL_CHOICES = ("auto", "yes", "no")


@dataclass(frozen=True)
class BuildSettings:
    opt: str = "O2"
    kernels: str = "auto"
    stack_bytes: int | None = None
    timeout: float = 900.0

    def __post_init__(self) -> None:
        if self.opt not in OPT_LEVELS:
            raise FirmwareError(f"unknown optimisation level {self.opt!r}; choose one of: "
                                f"{', '.join(OPT_LEVELS)}")
        if self.kernels not in KERNEL_CHOICES:
            raise FirmwareError(f"--kernels must be one of {', '.join(KERNEL_CHOICES)}")


def build_dir(work_dir: Path) -> Path:
    return work_dir / "pio"


def elf_path(work_dir: Path, board: BoardProfile) -> Path:
    return build_dir(work_dir) / board.pio_env / "firmware.elf"


def pio_run(
    board: BoardProfile,
    model_dir: Path,
    work_dir: Path,
    *,
    gen_dir: Path | None,
    settings: BuildSettings,
    targets: list[str] | None = None,
    handshake: bool = True,
) -> Path:
    """Run PlatformIO for `board`; returns the ELF. The full log is kept in work_dir."""
    require_firmware_build()
    ensure_scons_shim()
    env = pio_environment({
        "PLATFORMIO_BUILD_DIR": str(build_dir(work_dir).resolve()),
        "TD_MODEL_DIR": str(Path(model_dir).resolve()),
        "TD_GEN_DIR": str(gen_dir.resolve()) if gen_dir else "",
        "TD_OPT": settings.opt,
        "TD_KERNELS": settings.kernels,
        "TD_BOARD": board.name,
        "TD_HANDSHAKE": "1" if (handshake and board.is_qemu) else "0",
        # STM32 port: QEMU mode (semihosting exit) or board mode (start byte, then park)
        "TD_SEMIHOSTING": "1" if board.semihosting else "0",
        "TD_BAUD": str(board.serial_baud),
    })
    if settings.stack_bytes:
        env["TD_STACK_SIZE"] = str(settings.stack_bytes)
    project = write_project(work_dir)
    cmd = [*pio_command(), "run", "-d", str(project), "-e", board.pio_env]
    for t in targets or []:
        cmd += ["-t", t]
    log = work_dir / "build.log"
    try:
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=settings.timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise FirmwareError(
            f"PlatformIO build for {board.name} did not finish within {settings.timeout:.0f} s"
        ) from exc
    log.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        hint = ""
        if not env_is_local(board.pio_env):
            hint = (f" (env {board.pio_env} of board {board.name} uses an official PlatformIO "
                    "platform: the first build needs internet to download it; it cannot be "
                    "built offline)")
        output = proc.stdout + proc.stderr
        overflow = re.findall(r"region `(\w+)' overflowed by (\d+) bytes", output)
        if overflow:  # the budget check estimates; the linker knows
            what = ", ".join(f"{'flash' if r == 'CODE' else r} by {n} bytes" for r, n in overflow)
            raise FirmwareError(f"the firmware does not fit board {board.name} "
                                f"({board.flash_bytes} B flash, {board.ram_bytes} B RAM): the "
                                f"linker says it overflows {what}; log {log}")
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise FirmwareError(f"PlatformIO build for {board.name} failed{hint}; log {log}:\n{tail}")
    elf = elf_path(work_dir, board)
    if not elf.exists():
        raise FirmwareError(f"PlatformIO reported success but {elf} is missing; log {log}")
    return elf
