"""Board profiles: one TOML file per board in the repository's `boards/` folder.

A profile says what the firmware side needs to know about a target: core, clock, flash and
RAM sizes, the QEMU machine and UART base (QEMU boards), the cycle counter kind and the
PlatformIO environment that builds it. Adding a board is adding one file; the file name
(without .toml) is the board's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tinydeploy.errors import FirmwareError
from tinydeploy.tomlfile import read_toml

BOARDS_DIR = Path(__file__).resolve().parents[2] / "boards"
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

    @property
    def is_qemu(self) -> bool:
        return self.qemu_machine is not None

    @property
    def unit(self) -> str:
        """What the firmware's counter measures, once converted by the host."""
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
    known = set(BoardProfile.__dataclass_fields__) - {"name"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise FirmwareError(f"board profile {path}: unknown keys {', '.join(unknown)}")
    raw.setdefault("description", path.stem)
    return BoardProfile(name=path.stem, **raw)


@cache
def _registry(boards_dir: Path) -> dict[str, BoardProfile]:
    return {p.stem: load_profile(p) for p in sorted(boards_dir.glob("*.toml"))}


def board_names(boards_dir: Path = BOARDS_DIR) -> list[str]:
    return sorted(_registry(boards_dir))


def get_board(name: str, boards_dir: Path = BOARDS_DIR) -> BoardProfile:
    """The profile called `name`; an unknown name is an error listing the valid ones."""
    boards = _registry(boards_dir)
    if name not in boards:
        raise FirmwareError(
            f"unknown board {name!r}; choose one of: {', '.join(sorted(boards))}"
        )
    return boards[name]
