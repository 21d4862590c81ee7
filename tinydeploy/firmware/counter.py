"""Which counter timed a run, and what its ticks are: instructions (QEMU) or cycles (boards).

The firmware names its counter in the report (`TD:BEGIN counter=...`); the host knows where
it ran. The two are combined here, once per benchmark, so a number is never labelled with a
unit it was not measured in:

- under QEMU (`-icount shift=0`, one instruction per nanosecond) SysTick ticks at the
  machine's clock give instructions retired: ticks * 1e9 / clock_hz. The MPS2/MPS3 port
  says `systick-icount`; the STM32 port says `systick` after finding that DWT CYCCNT does
  not count (QEMU does not emulate it);
- on a real board DWT CYCCNT gives core cycles; when it does not count, the STM32 port falls
  back to SysTick at the core clock, which counts core cycles too (with a note).

Chunks of one benchmark that used different counters are an error: they are never mixed.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinydeploy.errors import FirmwareError
from tinydeploy.firmware.boards import BoardProfile

NOTE_QEMU_FALLBACK = ("DWT CYCCNT does not count under QEMU: SysTick under -icount shift=0 "
                      "(instructions retired)")
NOTE_BOARD_FALLBACK = ("DWT CYCCNT did not count on this board: cycles from SysTick at the "
                       "core clock")


@dataclass(frozen=True)
class Counter:
    kind: str  # what the firmware counted with: systick-icount, systick or dwt
    unit: str  # "instructions" or "cycles"
    counts_per_tick: float
    note: str | None = None

    def describe(self) -> dict[str, object]:
        return {"kind": self.kind, "unit": self.unit, "counts_per_tick": self.counts_per_tick,
                "note": self.note}


def resolve(board: BoardProfile, kinds: list[str]) -> Counter:
    """The counter of a run on `board` whose chunks reported the counters `kinds`."""
    found = sorted(set(kinds))
    if len(found) != 1:
        raise FirmwareError(f"the chunks of this run on {board.name} report different counters "
                            f"({', '.join(found) or 'none'}): their numbers cannot be combined")
    kind = found[0]
    if board.is_qemu:
        if kind not in ("systick-icount", "systick"):
            raise FirmwareError(f"{board.name} ran under QEMU but its firmware timed with "
                                f"{kind!r}: only SysTick under -icount gives instructions")
        note = NOTE_QEMU_FALLBACK if kind == "systick" else None
        return Counter(kind, "instructions", 1e9 / board.clock_hz, note)
    if kind == "dwt":
        return Counter(kind, "cycles", 1.0)
    if kind == "systick":
        return Counter(kind, "cycles", 1.0, NOTE_BOARD_FALLBACK)
    raise FirmwareError(f"board {board.name} is a real board but its firmware timed with "
                        f"{kind!r} (a QEMU-only counter): is it flashed with a QEMU build?")
