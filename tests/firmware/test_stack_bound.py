"""The stack bound from GCC's call graph (-fcallgraph-info=su) and the linked image, on real
cross-compiled and linked code: deepest path, interrupt on top, the paint guard, naked asm
and libc frames read from the disassembly, and the programs it must refuse to bound."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tinydeploy.firmware.stackbound import EXCEPTION_FRAME, PAINT_GUARD, stack_bound

pytestmark = pytest.mark.firmware

CHAIN = r"""
#include <string.h>
volatile int sink;
__attribute__((noinline)) static void leaf(char *p) { char buf[400]; memset(buf, sink, sizeof buf);
    p[0] = buf[sink]; }
__attribute__((noinline)) static void mid(char *p) { char buf[100]; buf[0] = 2; leaf(buf);
    p[0] = buf[sink]; }
__attribute__((noinline)) static void shallow(char *p) { char buf[40]; buf[0] = 3;
    p[0] = buf[sink]; }
__attribute__((noinline)) static void stack_paint(void) { sink = 1; }
void SysTick_Handler(void) { char buf[24]; buf[sink] = 1; sink = buf[0]; }
int main(void) { char c; stack_paint(); mid(&c); shallow(&c); return c; }
void Reset_Handler(void) { main(); for (;;) {} }
"""

# GCC reports 0 bytes for a naked function; its asm pushes 9 registers and 512 bytes more.
NAKED = r"""
volatile int sink;
__attribute__((naked, noinline)) static void kernel_asm(void) {
    __asm__ volatile("push {r4-r11, lr}\n sub sp, sp, #512\n add sp, sp, #512\n"
                     "pop {r4-r11, pc}\n");
}
void SysTick_Handler(void) { sink = 0; }
__attribute__((noinline)) static void stack_paint(void) { sink = 1; }
void Reset_Handler(void) { stack_paint(); kernel_asm(); for (;;) {} }
"""


def _build(tmp: Path, source: str, name: str, fpu: bool = True) -> tuple[Path, Path]:
    """Compile (with the call graph) and link; returns (build dir, ELF)."""
    src = tmp / f"{name}.c"
    src.write_text(source)
    flags = ["-mthumb", "-mcpu=cortex-m4" if fpu else "-mcpu=cortex-m3", "-O2",
             "-ffreestanding"]
    if fpu:
        flags += ["-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]
    obj, elf = tmp / f"{name}.o", tmp / f"{name}.elf"
    subprocess.run(["arm-none-eabi-gcc", *flags, "-fcallgraph-info=su", "-c", str(src), "-o",
                    str(obj)], check=True, cwd=tmp)
    subprocess.run(["arm-none-eabi-gcc", *flags, str(obj), "-o", str(elf), "-nostartfiles",
                    "--specs=nano.specs", "-Wl,--entry=Reset_Handler"], check=True, cwd=tmp)
    return tmp, elf


def _ci_frames(ci: Path) -> dict[str, int]:
    return {t.rsplit(":", 1)[-1]: int(b) for t, b in re.findall(
        r'title: "([^"]+)" label: "[^"]*\\n(\d+) bytes \(static\)', ci.read_text())}


def test_deepest_path_plus_interrupt(tmp_path: Path):
    build, elf = _build(tmp_path, CHAIN, "chain")
    frames = _ci_frames(build / "chain.ci")
    b = stack_bound(build, has_fpu=True, elf=elf)
    names = [p["function"] for p in b.to_dict()["path"]]
    assert names[:5] == ["Reset_Handler", "main", "mid", "leaf", "memset"], names
    assert frames["leaf"] >= 400 and frames["mid"] >= 100
    memset = dict(b.path)["memset"]  # newlib's frame, from the disassembly
    deepest = sum(frames[f] for f in ("Reset_Handler", "main", "mid", "leaf")) + memset + sum(
        f for _, f in b.path[5:])
    assert b.bytes == deepest + EXCEPTION_FRAME[True] + frames["SysTick_Handler"]


def test_no_fpu_core_stacks_the_short_exception_frame(tmp_path: Path):
    build, elf = _build(tmp_path, CHAIN, "chain", fpu=False)
    with_fp = stack_bound(build, has_fpu=True, elf=elf).bytes
    assert stack_bound(build, has_fpu=False, elf=elf).bytes == with_fp - EXCEPTION_FRAME[
        True] + EXCEPTION_FRAME[False]


def test_naked_asm_frames_come_from_the_disassembly(tmp_path: Path):
    build, elf = _build(tmp_path, NAKED, "naked")
    assert _ci_frames(build / "naked.ci")["kernel_asm"] == 0  # what GCC says
    b = stack_bound(build, has_fpu=True, elf=elf)
    assert dict(b.path)["kernel_asm"] == 9 * 4 + 512
    without_elf = stack_bound(build, has_fpu=True)
    assert without_elf.bytes is not None and without_elf.bytes < b.bytes


def test_paint_guard_dominates_a_shallow_program(tmp_path: Path):
    shallow = CHAIN.replace("mid(&c);", "")
    build, elf = _build(tmp_path, shallow, "shallow")
    frames = _ci_frames(build / "shallow.ci")
    at_paint = frames["Reset_Handler"] + frames["main"] + frames["stack_paint"]
    assert stack_bound(build, has_fpu=True, elf=elf).bytes == max(
        at_paint + PAINT_GUARD,
        frames["Reset_Handler"] + frames["main"] + frames["shallow"] + EXCEPTION_FRAME[True]
        + frames["SysTick_Handler"])


@pytest.mark.parametrize(("body", "reason"), [
    ("int rec(int n) { return n ? rec(n - 1) + sink : 0; }\n"
     "void Reset_Handler(void) { sink = rec(sink); for (;;) {} }", "recursion through rec"),
    ("void Reset_Handler(void) { char v[sink + 1]; v[0] = 1; sink = v[sink]; for (;;) {} }",
     "dynamic stack frame"),
    ("void (*volatile fp)(void);\n"
     "void Reset_Handler(void) { fp(); for (;;) {} }", "indirect call"),
])
def test_unboundable_programs_say_why(tmp_path: Path, body: str, reason: str):
    build, elf = _build(tmp_path, "volatile int sink;\n" + body, "bad")
    b = stack_bound(build, has_fpu=True, elf=elf)
    assert b.bytes is None and reason in b.reason


def test_missing_call_graph_or_callee_is_reported(tmp_path: Path):
    assert "no call-graph files" in stack_bound(tmp_path, has_fpu=True).reason
    build, _ = _build(tmp_path, CHAIN, "chain")
    b = stack_bound(build, has_fpu=True)  # no image: memset is unknown
    assert b.bytes is None and "memset is called" in b.reason
