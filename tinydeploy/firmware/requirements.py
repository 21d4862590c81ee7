"""What the firmware commands need from the machine, one check each, with the fix.

Each check returns `Finding`s (one line of `tinydeploy doctor`'s table). The build and QEMU
paths call `require_firmware_build` / `require_qemu` first, so a missing Debian package is
named in their error instead of surfacing as a linker log.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tinydeploy.errors import FirmwareError
from tinydeploy.firmware.boards import board_names, get_board
from tinydeploy.firmware.toolchain import core_dir


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's table."""

    topic: str  # which requirement, e.g. "cross compiler"
    ok: bool
    detail: str  # version, path or what is wrong
    fix: str = ""  # the exact command that fixes it (empty when ok)
    required: bool = True  # False: only some features need it (a warning, not a failure)


def apt(*packages: str) -> str:
    return f"sudo apt-get update && sudo apt-get install -y {' '.join(packages)}"


def _run(cmd: list[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def tool_version(tool: str, topic: str, package: str, required: bool = True) -> Finding:
    path = shutil.which(tool)
    if path is None:
        return Finding(topic, False, f"{tool} not found on PATH", apt(package), required)
    proc = _run([path, "--version"])
    version = _first_line(proc.stdout) if proc and proc.returncode == 0 else "version unknown"
    return Finding(topic, True, f"{version} ({path})", required=required)


def cross_compiler() -> list[Finding]:
    return [
        tool_version("arm-none-eabi-gcc", "cross compiler", "gcc-arm-none-eabi"),
        tool_version("arm-none-eabi-size", "cross binutils", "binutils-arm-none-eabi"),
    ]


# A program that pulls in newlib's memcpy, linked the way the QEMU platform links (nano specs,
# no start files): it fails exactly when the firmware link would.
_LINK_PROBE = (
    "#include <string.h>\nchar a[8], b[8];\n"
    "void _start(void) { memcpy(a, b, 8); for (;;); }\n"
)


NEWLIB = "newlib nano (C library)"


def newlib_nano() -> list[Finding]:
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc is None:
        return [Finding(NEWLIB, False, "needs the cross compiler",
                        apt("libnewlib-arm-none-eabi"))]
    return [_link_probe(gcc)]


@cache  # per compiler path: every build asks, the answer only changes with the install
def _link_probe(gcc: str) -> Finding:
    with tempfile.TemporaryDirectory(prefix="td-doctor-") as tmp:
        src = Path(tmp) / "probe.c"
        src.write_text(_LINK_PROBE)
        proc = _run([gcc, "-mthumb", "-mcpu=cortex-m4", "-O1", "-nostartfiles",
                     "--specs=nano.specs", "-Wl,--entry=_start", str(src), "-lc",
                     "-o", str(Path(tmp) / "probe.elf")], timeout=60)
    if proc is None or proc.returncode != 0:
        why = _first_line(proc.stderr) if proc else "the probe did not run"
        return Finding(NEWLIB, False, f"a nano.specs link fails: {why}",
                       apt("libnewlib-arm-none-eabi"))
    libc = _run([gcc, "-mthumb", "-mcpu=cortex-m4", "-print-file-name=libc_nano.a"])
    where = os.path.normpath(libc.stdout.strip()) if libc else ""
    return Finding(NEWLIB, True, f"links with --specs=nano.specs ({where})")


@cache  # per binary path
def _qemu_machines(qemu: str) -> tuple[str, frozenset[str]]:
    version = _run([qemu, "--version"])
    machines = _run([qemu, "-machine", "help"])
    names = {line.split()[0] for line in (machines.stdout if machines else "").splitlines()[1:]
             if line.strip()}
    return (_first_line(version.stdout) if version else "version unknown"), frozenset(names)


def qemu(boards: Iterable[str] | None = None) -> list[Finding]:
    """QEMU itself, and the machine of every QEMU board profile (or of `boards`)."""
    binary = shutil.which("qemu-system-arm")
    if binary is None:
        return [Finding("QEMU", False, "qemu-system-arm not found on PATH",
                        apt("qemu-system-arm"))]
    version, machines = _qemu_machines(binary)
    out = [Finding("QEMU", True, version)]
    for name in boards if boards is not None else board_names():
        b = get_board(name)
        if not b.is_qemu:
            continue
        ok = b.qemu_machine in machines
        out.append(Finding(f"board {name}", ok, f"QEMU machine {b.qemu_machine}" +
                           ("" if ok else " is not emulated by this QEMU"),
                           "" if ok else apt("qemu-system-arm")))
    return out


def uploaders() -> list[Finding]:
    """The flash tools of real boards (`tinydeploy flash`): optional, one line each."""
    import sys

    from tinydeploy.firmware.flash import UPLOADERS, _which

    out = []
    for u in UPLOADERS.values():
        path = _which(u.executable)
        if path is None:
            out.append(Finding(f"flash tool {u.name}", False,
                               f"{u.executable} not found (needed only to flash real boards)",
                               u.install.format(python=sys.executable), required=False))
            continue
        proc = _run([path, "--version"])
        text = (proc.stdout or proc.stderr) if proc else ""
        out.append(Finding(f"flash tool {u.name}", True,
                           f"{_first_line(text) or 'version unknown'} ({path})", required=False))
    return out


def platformio() -> list[Finding]:
    missing = [m for m in ("platformio", "SCons") if importlib.util.find_spec(m) is None]
    if missing:
        return [Finding("PlatformIO core", False, f"Python module(s) {', '.join(missing)} "
                        "missing", "pip install 'platformio>=6.2,<7' 'scons>=4.11,<5'")]
    shim = core_dir() / "packages" / "tool-scons" / ".piopm"
    state = "offline tool-scons shim ready" if shim.exists() else \
        "tool-scons shim is created on the first build"
    return [Finding("PlatformIO core", True,
                    f"platformio {md.version('platformio')}, scons {md.version('scons')}; "
                    f"core dir {core_dir()} ({state})")]


def require(findings: Iterable[Finding], doing: str) -> None:
    """Raise one FirmwareError naming every failed required finding and its fix."""
    bad = [f for f in findings if f.required and not f.ok]
    if bad:
        lines = "; ".join(f"{f.topic}: {f.detail}" + (f" (fix: {f.fix})" if f.fix else "")
                          for f in bad)
        raise FirmwareError(f"cannot {doing}: {lines}. `tinydeploy doctor` lists every check")


def require_firmware_build() -> None:
    require([*cross_compiler(), *newlib_nano(), *platformio()], "build firmware")


def require_qemu(board: str) -> None:
    require(qemu([board]), f"run {board} under QEMU")
