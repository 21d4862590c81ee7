"""The stack bound from GCC's call graph (-fcallgraph-info=su), on real cross-compiled code:
deepest path, interrupt on top, the paint guard, and the cases it must refuse to bound."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tinydeploy.firmware.stackbound import EXCEPTION_FRAME, PAINT_GUARD, stack_bound

pytestmark = pytest.mark.firmware

CHAIN = r"""
#include <string.h>
volatile int sink;
__attribute__((noinline)) static void leaf(char *p) { char buf[400]; memset(buf, 1, sizeof buf);
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


def _compile(tmp: Path, source: str, name: str, core: str = "cortex-m4") -> Path:
    src = tmp / f"{name}.c"
    src.write_text(source)
    flags = ["-mthumb", f"-mcpu={core}", "-O2", "-ffreestanding"]
    if core != "cortex-m3":
        flags += ["-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]
    subprocess.run(["arm-none-eabi-gcc", *flags, "-fcallgraph-info=su", "-c", str(src),
                    "-o", str(tmp / f"{name}.o")], check=True, cwd=tmp)
    return tmp


def _frames(ci: Path) -> dict[str, int]:
    import re

    return {t.rsplit(":", 1)[-1]: int(b) for t, b in re.findall(
        r'title: "([^"]+)" label: "[^"]*\\n(\d+) bytes \(static\)', ci.read_text())}


def test_deepest_path_plus_interrupt(tmp_path: Path):
    build = _compile(tmp_path, CHAIN, "chain")
    frames = _frames(build / "chain.ci")
    b = stack_bound(build, has_fpu=True)
    names = [p["function"] for p in b.to_dict()["path"]]
    assert names[:4] == ["Reset_Handler", "main", "mid", "leaf"]
    assert names[4] == "memset" and b.unknown_callees == ["memset"]
    deepest = sum(frames[f] for f in ("Reset_Handler", "main", "mid", "leaf")) + 64
    assert frames["leaf"] >= 400 and frames["mid"] >= 100
    assert b.bytes == deepest + EXCEPTION_FRAME[True] + frames["SysTick_Handler"]
    assert stack_bound(build, has_fpu=False).bytes == b.bytes - EXCEPTION_FRAME[True] \
        + EXCEPTION_FRAME[False]


def test_paint_guard_dominates_a_shallow_program(tmp_path: Path):
    shallow = CHAIN.replace("mid(&c);", "").replace("char buf[400]", "char buf[4]")
    build = _compile(tmp_path, shallow, "shallow")
    frames = _frames(build / "shallow.ci")
    at_paint = frames["Reset_Handler"] + frames["main"] + frames["stack_paint"]
    assert stack_bound(build, has_fpu=True).bytes == max(
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
    build = _compile(tmp_path, "volatile int sink;\n" + body, "bad")
    b = stack_bound(build, has_fpu=True)
    assert b.bytes is None and reason in b.reason


def test_no_call_graph_files_is_reported(tmp_path: Path):
    b = stack_bound(tmp_path, has_fpu=True)
    assert b.bytes is None and "no call-graph files" in b.reason
