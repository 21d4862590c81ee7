"""The unit of a run comes from the counter its firmware reports and where it ran: QEMU ticks
are instructions, board ticks are cycles, and two counters are never mixed."""

from __future__ import annotations

import pytest

from tinydeploy.errors import FirmwareError
from tinydeploy.firmware.boards import get_board
from tinydeploy.firmware.counter import NOTE_BOARD_FALLBACK, NOTE_QEMU_FALLBACK, resolve


def test_qemu_ticks_are_instructions():
    mps = resolve(get_board("qemu-m4"), ["systick-icount", "systick-icount"])
    assert (mps.unit, mps.counts_per_tick, mps.note) == ("instructions", 40.0, None)
    stm32 = resolve(get_board("netduinoplus2"), ["systick"])
    assert stm32.unit == "instructions" and stm32.note == NOTE_QEMU_FALLBACK
    assert stm32.counts_per_tick == pytest.approx(1e9 / 168e6)
    with pytest.raises(FirmwareError, match="only SysTick under -icount"):
        resolve(get_board("netduinoplus2"), ["dwt"])


def test_board_ticks_are_cycles_with_a_note_for_the_fallback():
    board = get_board("nucleo_f446re")
    assert resolve(board, ["dwt"]).describe() == {
        "kind": "dwt", "unit": "cycles", "counts_per_tick": 1.0, "note": None}
    fallback = resolve(board, ["systick"])
    assert fallback.unit == "cycles" and fallback.note == NOTE_BOARD_FALLBACK
    with pytest.raises(FirmwareError, match="QEMU-only counter"):
        resolve(board, ["systick-icount"])


def test_chunks_with_different_counters_are_refused():
    with pytest.raises(FirmwareError, match=r"different counters \(dwt, systick\)"):
        resolve(get_board("nucleo_f446re"), ["dwt", "systick", "dwt"])
