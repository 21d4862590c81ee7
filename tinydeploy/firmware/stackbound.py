"""The firmware's worst-case stack, from the compiler's own call graph (before it runs).

Every firmware object is compiled with `-fcallgraph-info=su`: GCC writes a `.ci` file (VCG
graph) beside each object with one node per function, carrying the bytes of its stack frame
(`static`, or `dynamic` for alloca / variable-length arrays), and one edge per call. The
bound is the deepest path from the reset handler, plus one interrupt on top of the deepest
frame (the exception stacking the core does, and the deepest path of the handler), so the
measured high-water mark of the painted stack can be checked against it.

What the bound cannot see is named in the result instead of guessed silently: calls into
libc/libgcc (compiled without the flag) count `UNKNOWN_LEAF_BYTES` each, and an indirect
call, recursion or a dynamic frame on a path makes the bound unavailable (None).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

UNKNOWN_LEAF_BYTES = 64  # libc / libgcc leaf (memcpy, __aeabi_ldivmod ...): no .ci for them
# Exception entry: 8 words basic frame, +18 for the FP context on cores with an FPU, +1 word
# of realignment to 8 bytes (ARMv7-M / ARMv8-M architecture reference, exception entry).
EXCEPTION_FRAME = {False: 32 + 4, True: 104 + 4}
RESET = "Reset_Handler"
INTERRUPTS = ("SysTick_Handler",)  # the only interrupt the harness enables (tick counter)
# The harness paints the stack from its bottom up to TD_STACK_GUARD bytes below the stack
# pointer inside stack_paint (harness.c), so the measured high-water mark is never below
# the depth of that frame plus the guard.
PAINT_FUNCTION, PAINT_GUARD = "stack_paint", 256

_NODE = re.compile(r'node: \{ title: "([^"]+)" label: "([^"]*)"')
_EDGE = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')
_FRAME = re.compile(r"\\n(\d+) bytes \((static|dynamic|dynamic,bounded)\)")


@dataclass
class CallGraph:
    frames: dict[str, int] = field(default_factory=dict)  # function -> frame bytes
    dynamic: set[str] = field(default_factory=set)
    calls: dict[str, set[str]] = field(default_factory=dict)

    def add_file(self, text: str) -> None:
        for title, label in _NODE.findall(text):
            name = title  # GCC titles statics "file.c:fn", externs by bare name
            m = _FRAME.search(label)
            if m:  # a defined function (undefined callees have no frame line)
                self.frames[name] = max(self.frames.get(name, 0), int(m.group(1)))
                if m.group(2) != "static":
                    self.dynamic.add(name)
        for src, dst in _EDGE.findall(text):
            self.calls.setdefault(src, set()).add(dst)


@dataclass(frozen=True)
class StackBound:
    bytes: int | None  # None: not boundable (reason says why)
    path: list[tuple[str, int]]  # the deepest path: (function, frame bytes)
    unknown_callees: list[str]  # leaves without call-graph info, counted UNKNOWN_LEAF_BYTES
    reason: str = ""

    def to_dict(self) -> dict:
        return {"bytes": self.bytes, "path": [{"function": f.rsplit(":", 1)[-1], "frame": b}
                                              for f, b in self.path],
                "unknown_callees": self.unknown_callees, "unknown_leaf_bytes":
                UNKNOWN_LEAF_BYTES, "reason": self.reason}


class _Unbounded(Exception):
    pass


def _depth_to(graph: CallGraph, root: str, target: str) -> int | None:
    """The deepest stack at which `target` runs (its own frame included), or None."""
    memo: dict[str, int | None] = {}

    def visit(fn: str, seen: frozenset[str]) -> int | None:
        if fn == target:
            return graph.frames.get(fn, 0)
        if fn in memo:
            return memo[fn]
        if fn in seen or fn not in graph.frames:
            return None
        below = [d for c in graph.calls.get(fn, ()) if (d := visit(c, seen | {fn})) is not None]
        memo[fn] = graph.frames[fn] + max(below) if below else None
        return memo[fn]

    return visit(root, frozenset())


def _deepest(graph: CallGraph, root: str, unknown: set[str]) -> tuple[int, list[tuple[str, int]]]:
    memo: dict[str, tuple[int, list[tuple[str, int]]]] = {}
    active: set[str] = set()

    def visit(fn: str) -> tuple[int, list[tuple[str, int]]]:
        if fn in memo:
            return memo[fn]
        if fn == "__indirect_call":
            raise _Unbounded("an indirect call (function pointer) is on a path")
        if fn not in graph.frames:
            unknown.add(fn)
            return UNKNOWN_LEAF_BYTES, [(fn, UNKNOWN_LEAF_BYTES)]
        if fn in graph.dynamic:
            raise _Unbounded(f"{fn.rsplit(':', 1)[-1]} has a dynamic stack frame")
        if fn in active:
            raise _Unbounded(f"recursion through {fn.rsplit(':', 1)[-1]}")
        active.add(fn)
        best: tuple[int, list[tuple[str, int]]] = (0, [])
        for callee in sorted(graph.calls.get(fn, ())):
            got = visit(callee)
            if got[0] > best[0]:
                best = got
        active.discard(fn)
        own = graph.frames[fn]
        memo[fn] = (own + best[0], [(fn, own), *best[1]])
        return memo[fn]

    return visit(root)


NO_FPU_CORES = ("cortex-m0plus", "cortex-m3")


def core_has_fpu(core: str) -> bool:
    return core not in NO_FPU_CORES


def stack_bound(build_dir: Path, has_fpu: bool) -> StackBound:
    """The bound for the firmware built in `build_dir` (its .ci files)."""
    graph = CallGraph()
    files = sorted(Path(build_dir).rglob("*.ci"))
    if not files:
        return StackBound(None, [], [], f"no call-graph files (.ci) under {build_dir}")
    for ci in files:
        graph.add_file(ci.read_text(errors="replace"))
    if RESET not in graph.frames:
        return StackBound(None, [], [], f"{RESET} not in the call graph")
    unknown: set[str] = set()
    try:
        depth, path = _deepest(graph, RESET, unknown)
        irq = max((_deepest(graph, h, unknown)[0] for h in INTERRUPTS if h in graph.frames),
                  default=0)
    except _Unbounded as exc:
        return StackBound(None, [], sorted(unknown), str(exc))
    total = depth + EXCEPTION_FRAME[has_fpu] + irq
    paint = next((f for f in graph.frames if f.rsplit(":", 1)[-1] == PAINT_FUNCTION), None)
    if paint is not None and (at := _depth_to(graph, RESET, paint)) is not None:
        total = max(total, at + PAINT_GUARD)
    return StackBound(total, path, sorted(u.rsplit(":", 1)[-1] for u in unknown))
