"""The firmware's worst-case stack, from the compiler's call graph and the linked image.

Every firmware object is compiled with `-fcallgraph-info=su`: GCC writes a `.ci` file (VCG
graph) beside each object, one node per function with the bytes of its stack frame
(`static`, or `dynamic` for alloca / variable-length arrays) and one edge per call. What GCC
cannot see is read from the linked ELF's disassembly: the frames of naked and top-level asm
routines (GCC reports 0 bytes for a naked function, whatever it pushes), of libc / libgcc
(memcpy, __aeabi_ldivmod ...), and their direct calls. A function's frame is the larger of
the two readings.

The bound is the deepest path from the reset handler plus one interrupt taken at its deepest
point (the exception stacking the core does, and the deepest path of the handler), so the
measured high-water mark of the painted stack can be checked against it. An indirect call,
recursion or a dynamic frame on a path makes the bound unavailable (None, with the reason).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

# Exception entry: 8 words basic frame, +18 for the FP context on cores with an FPU, +1 word
# of realignment to 8 bytes (ARMv7-M / ARMv8-M architecture reference, exception entry).
EXCEPTION_FRAME = {False: 32 + 4, True: 104 + 4}
RESET = "Reset_Handler"
INTERRUPTS = ("SysTick_Handler",)  # the only interrupt the harness enables (tick counter)
# The harness paints the stack from its bottom up to TD_STACK_GUARD bytes below the stack
# pointer inside stack_paint (harness.c), so the measured high-water mark is never below
# the depth of that frame plus the guard.
PAINT_FUNCTION, PAINT_GUARD = "stack_paint", 256
INDIRECT = "__indirect_call"
NO_FPU_CORES = ("cortex-m0plus", "cortex-m3")

_NODE = re.compile(r'node: \{ title: "([^"]+)" label: "([^"]*)"')
_EDGE = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')
_FRAME = re.compile(r"\\n(\d+) bytes \((static|dynamic|dynamic,bounded)\)")
_SYMBOL = re.compile(r"^[0-9a-f]+ <([^>]+)>:$")
_INSN = re.compile(r"^\s*[0-9a-f]+:\s+(\S+)\s*(.*)$")
_TARGET = re.compile(r"<([^>+]+)>")


def _bare(title: str) -> str:
    """GCC titles statics "file.c:fn"; the ELF and the call edges know them as fn."""
    return title.rsplit(":", 1)[-1]


@dataclass
class CallGraph:
    frames: dict[str, int] = field(default_factory=dict)  # function -> frame bytes
    dynamic: set[str] = field(default_factory=set)
    calls: dict[str, set[str]] = field(default_factory=dict)

    def add_frame(self, fn: str, nbytes: int) -> None:
        self.frames[fn] = max(self.frames.get(fn, 0), nbytes)

    def add_call(self, src: str, dst: str) -> None:
        self.calls.setdefault(src, set()).add(dst)

    def add_ci(self, text: str) -> None:
        for title, label in _NODE.findall(text):
            m = _FRAME.search(label)
            if m:  # a defined function (undefined callees have no frame line)
                self.add_frame(_bare(title), int(m.group(1)))
                if m.group(2) != "static":
                    self.dynamic.add(_bare(title))
        for src, dst in _EDGE.findall(text):
            self.add_call(_bare(src), _bare(dst))

    def add_disassembly(self, text: str) -> None:
        """Frames (every push / stmdb sp! / vpush / sp decrement, summed: an upper bound) and
        direct calls of each function of `objdump -d` output; a register call in a function
        the compiler did not describe is an indirect call."""
        fn = None
        pushed: dict[str, int] = {}
        for line in text.splitlines():
            if m := _SYMBOL.match(line):
                fn = m.group(1)
                pushed.setdefault(fn, 0)
                continue
            m = _INSN.match(line)
            if fn is None or not m:
                continue
            mnem, ops = m.group(1).split(".")[0], m.group(2)
            pushed[fn] += _pushed_bytes(mnem, ops)
            if mnem in ("bl", "blx", "b") and (t := _TARGET.search(ops)) and t.group(1) != fn:
                self.add_call(fn, t.group(1))
            elif mnem == "blx" and not _TARGET.search(ops):
                self.add_call(fn, INDIRECT)
        for name, nbytes in pushed.items():
            self.add_frame(name, nbytes)


def _pushed_bytes(mnem: str, ops: str) -> int:
    regs = ops[ops.find("{") + 1:ops.find("}")] if "{" in ops else ""
    if mnem == "push" or (mnem == "stmdb" and ops.startswith("sp!")):
        return 4 * _count_regs(regs)
    if mnem == "vpush":
        return (8 if regs.strip().startswith("d") else 4) * _count_regs(regs)
    if mnem in ("sub", "subw") and ops.split(",")[0].strip() == "sp":
        imm = re.search(r"#(\d+)", ops)
        return int(imm.group(1)) if imm else 0
    if (pre := re.search(r"\[sp, #-(\d+)\]!", ops)) and mnem.startswith("str"):
        return int(pre.group(1))
    return 0


def _count_regs(regs: str) -> int:
    n = 0
    for part in filter(None, (p.strip() for p in regs.split(","))):
        if "-" in part:
            lo, hi = (int(re.sub(r"\D", "", x)) for x in part.split("-"))
            n += hi - lo + 1
        else:
            n += 1
    return n


@dataclass(frozen=True)
class StackBound:
    bytes: int | None  # None: not boundable (reason says why)
    path: list[tuple[str, int]]  # the deepest path: (function, frame bytes)
    reason: str = ""

    def to_dict(self) -> dict:
        return {"bytes": self.bytes,
                "path": [{"function": f, "frame": b} for f, b in self.path],
                "reason": self.reason}


class _Unbounded(Exception):
    pass


def _deepest(graph: CallGraph, root: str) -> tuple[int, list[tuple[str, int]]]:
    memo: dict[str, tuple[int, list[tuple[str, int]]]] = {}
    active: set[str] = set()

    def visit(fn: str) -> tuple[int, list[tuple[str, int]]]:
        if fn in memo:
            return memo[fn]
        if fn == INDIRECT:
            raise _Unbounded("an indirect call (function pointer) is on a path")
        if fn not in graph.frames:
            raise _Unbounded(f"{fn} is called but neither compiled with call-graph "
                             "information nor in the image")
        if fn in graph.dynamic:
            raise _Unbounded(f"{fn} has a dynamic stack frame")
        if fn in active:
            raise _Unbounded(f"recursion through {fn}")
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


def core_has_fpu(core: str) -> bool:
    return core not in NO_FPU_CORES


def disassemble(elf: Path) -> str:
    tool = shutil.which("arm-none-eabi-objdump")
    if tool is None:
        raise FileNotFoundError("arm-none-eabi-objdump is not on PATH")
    return subprocess.run([tool, "-d", "--no-show-raw-insn", str(elf)], capture_output=True,
                          text=True, check=True, timeout=300).stdout


def stack_bound(build_dir: Path, has_fpu: bool, elf: Path | None = None) -> StackBound:
    """The bound for the firmware built in `build_dir` (its .ci files) and linked as `elf`."""
    graph = CallGraph()
    files = sorted(Path(build_dir).rglob("*.ci"))
    if not files:
        return StackBound(None, [], f"no call-graph files (.ci) under {build_dir}")
    for ci in files:
        graph.add_ci(ci.read_text(errors="replace"))
    if elf is not None:
        try:
            graph.add_disassembly(disassemble(elf))
        except (OSError, subprocess.SubprocessError) as exc:
            return StackBound(None, [], f"cannot disassemble {elf}: {exc}")
    if RESET not in graph.frames:
        return StackBound(None, [], f"{RESET} not in the call graph")
    try:
        depth, path = _deepest(graph, RESET)
        irq = max((_deepest(graph, h)[0] for h in INTERRUPTS if h in graph.frames), default=0)
    except _Unbounded as exc:
        return StackBound(None, [], str(exc))
    total = depth + EXCEPTION_FRAME[has_fpu] + irq
    if PAINT_FUNCTION in graph.frames and (at := _depth_to(graph, RESET, PAINT_FUNCTION)):
        total = max(total, at + PAINT_GUARD)
    return StackBound(total, path)
