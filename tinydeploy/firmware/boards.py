"""Board profiles: one TOML file per board, built in (package data) or in the user's folders.

A profile says what the firmware side needs to know about a target: core, clock, flash and
RAM sizes, the QEMU machine and UART base (QEMU boards), the counter the host expects and the
PlatformIO environment that builds it; for a real board, the uploaders that can flash it
(`tinydeploy.firmware.flash`), in order of preference, with their target names. Adding a
board is adding one file; the file name (without .toml) is the board's name. Users add
their own from folders named in $TINYDEPLOY_BOARDS_DIR (os.pathsep-separated; `--boards-dir`
on the firmware commands sets it); a user profile with a built-in name replaces the
built-in one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from tinydeploy.errors import FirmwareError
from tinydeploy.resources import boards_dir
from tinydeploy.tomlfile import read_toml

BOARDS_DIR = boards_dir()
BOARDS_ENV = "TINYDEPLOY_BOARDS_DIR"
DEFAULT_BOARD = "qemu-m4"
COUNTERS = ("systick-icount", "dwt")


@dataclass(frozen=True)
class BoardProfile:
    name: str
    description: str
    core: str
    clock_hz: int
    flash_bytes: int
    ram_bytes: int
    counter: str  # "systick-icount" (QEMU: instructions retired) or "dwt" (cycles)
    pio_env: str
    semihosting: bool
    qemu_machine: str | None = None
    uart_base: int | None = None
    serial_baud: int = 115200
    uploaders: tuple[str, ...] = ()  # e.g. ("openocd", "stlink", "pyocd"), preferred first
    openocd_target: str | None = None  # OpenOCD's target/<name>.cfg, e.g. "stm32f4x"
    pyocd_target: str | None = None  # pyOCD's --target, e.g. "stm32f446retx"
    flash_base: int | None = None  # where the image goes (0x08000000 on STM32)
    path: Path | None = field(default=None, compare=False)  # the profile file it came from

    @property
    def is_qemu(self) -> bool:
        return self.qemu_machine is not None

    @property
    def unit(self) -> str:
        """What the expected counter measures, once converted by the host (the counter a run
        actually used is resolved from its report: `tinydeploy.firmware.counter`)."""
        return "instructions" if self.counter == "systick-icount" else "cycles"

    def counts_per_tick(self) -> float:
        """Instructions per SysTick tick under `-icount shift=0` (1 instruction = 1 ns)."""
        return 1e9 / self.clock_hz if self.counter == "systick-icount" else 1.0


_REQUIRED = ("core", "clock_hz", "flash_bytes", "ram_bytes", "counter", "pio_env", "semihosting")


def load_profile(path: Path) -> BoardProfile:
    raw = read_toml(path, "board profile", FirmwareError)
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise FirmwareError(f"board profile {path} lacks {', '.join(missing)}")
    if raw["counter"] not in COUNTERS:
        raise FirmwareError(
            f"board profile {path}: counter {raw['counter']!r} is not one of {', '.join(COUNTERS)}"
        )
    if raw["counter"] == "systick-icount" and "qemu_machine" not in raw:
        raise FirmwareError(f"board profile {path}: systick-icount needs a qemu_machine")
    known = set(BoardProfile.__dataclass_fields__) - {"name", "path"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise FirmwareError(f"board profile {path}: unknown keys {', '.join(unknown)}")
    from tinydeploy.firmware.project import pio_envs

    if raw["pio_env"] not in pio_envs():
        raise FirmwareError(f"board profile {path}: pio_env {raw['pio_env']!r} is not an "
                            f"environment of the firmware project; choose one of: "
                            f"{', '.join(pio_envs())}")
    raw.setdefault("description", path.stem)
    raw["uploaders"] = tuple(raw.get("uploaders", ()))
    _check_uploaders(path, raw)
    return BoardProfile(name=path.stem, path=path, **raw)


def _check_uploaders(path: Path, raw: dict) -> None:
    from tinydeploy.firmware.flash import UPLOADERS

    unknown = [u for u in raw["uploaders"] if u not in UPLOADERS]
    if unknown:
        raise FirmwareError(f"board profile {path}: unknown uploaders {', '.join(unknown)}; "
                            f"known: {', '.join(UPLOADERS)}")
    needs = {"openocd": "openocd_target", "pyocd": "pyocd_target"}
    missing = [needs[u] for u in raw["uploaders"] if u in needs and not raw.get(needs[u])]
    if raw["uploaders"] and raw.get("flash_base") is None:
        missing.append("flash_base")
    if missing:
        raise FirmwareError(f"board profile {path}: its uploaders need {', '.join(missing)}")


def user_board_dirs() -> list[Path]:
    """The folders named in $TINYDEPLOY_BOARDS_DIR, in order; a missing one is an error."""
    dirs = [Path(d) for d in os.environ.get(BOARDS_ENV, "").split(os.pathsep) if d]
    for d in dirs:
        if not d.is_dir():
            raise FirmwareError(f"board profile folder {d} (from {BOARDS_ENV}) does not exist")
    return dirs


def use_board_dirs(dirs: list[Path]) -> None:
    """Put `dirs` first in $TINYDEPLOY_BOARDS_DIR (inherited by build and sweep workers)."""
    current = [d for d in os.environ.get(BOARDS_ENV, "").split(os.pathsep) if d]
    os.environ[BOARDS_ENV] = os.pathsep.join([*(str(Path(d).resolve()) for d in dirs), *current])


@cache
def _registry(dirs: tuple[Path, ...]) -> dict[str, BoardProfile]:
    boards: dict[str, BoardProfile] = {}
    for d in reversed(dirs):  # earlier folders win
        boards.update({p.stem: load_profile(p) for p in sorted(d.glob("*.toml"))})
    return boards


def _search_path(extra: Path | None) -> tuple[Path, ...]:
    return (*([extra] if extra else []), *user_board_dirs(), BOARDS_DIR)


def board_names(boards_dir: Path | None = None) -> list[str]:
    """Every board name: `boards_dir`, then $TINYDEPLOY_BOARDS_DIR, then the built-in ones."""
    return sorted(_registry(_search_path(boards_dir)))


def get_board(name: str, boards_dir: Path | None = None) -> BoardProfile:
    """The profile called `name`; an unknown name is an error listing the valid ones."""
    boards = _registry(_search_path(boards_dir))
    if name not in boards:
        raise FirmwareError(
            f"unknown board {name!r}; choose one of: {', '.join(sorted(boards))}"
        )
    return boards[name]
