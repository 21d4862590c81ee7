"""Static memory plan: liveness-based offsets in one activation arena.

Each buffer lives from the layer that writes it to the last layer that reads it. Buffers
are placed largest first at the lowest offset that does not overlap a placed buffer with
an overlapping lifetime (a classic greedy-by-size plan; TFLM's planner works the same way).
"""

from __future__ import annotations

from dataclasses import dataclass

ALIGN = 4


@dataclass
class Buffer:
    name: str
    size: int
    first: int  # index of the layer that writes it
    last: int  # index of the last layer that reads it
    offset: int = -1

    def overlaps_in_time(self, other: Buffer) -> bool:
        return self.first <= other.last and other.first <= self.last


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan(buffers: list[Buffer]) -> int:
    """Assign offsets in place; return the arena size (peak bytes)."""
    placed: list[Buffer] = []
    for buf in sorted(buffers, key=lambda b: (-b.size, b.first, b.name)):
        buf.offset = 0
        if buf.size == 0:
            placed.append(buf)
            continue
        busy = sorted((b.offset, b.offset + _align(b.size)) for b in placed
                      if b.size and b.overlaps_in_time(buf))
        candidate = 0
        for start, end in busy:
            if candidate + buf.size <= start:
                break
            candidate = max(candidate, end)
        buf.offset = candidate
        placed.append(buf)
    return max((b.offset + b.size for b in buffers), default=0)


def check_plan(buffers: list[Buffer]) -> None:
    """Assert that no two simultaneously live buffers share bytes."""
    for i, a in enumerate(buffers):
        for b in buffers[i + 1 :]:
            if a.size and b.size and a.overlaps_in_time(b):
                assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, (a, b)
