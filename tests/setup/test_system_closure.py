"""Every Debian package the build, the QEMU run and the host tools read from must be installed by
scripts/setup-system.sh (directly or through its Depends). A fresh Debian 12 machine once failed
the README's set-up because the firmware link used a package a dev machine had by hand."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from debian_closure import (
    INCIDENTAL,
    REPO,
    SETUP_SCRIPT,
    PackageInfo,
    Trace,
    allowed_closure,
    baseline,
    dependency_closure,
    describe,
    not_installed,
    packages_used,
    parse_dpkg_search,
    parse_dpkg_table,
    parse_packages_array,
    parse_trace,
    path_variants,
    read_dpkg_table,
    setup_packages,
    trace_command,
    uncovered,
    without_incidental,
)

from tinydeploy.tdnn import build

FC_MODEL = REPO / "tests" / "firmware" / "fixtures" / "fc_model"
# The host C library build of tinydeploy.tdnn.build, sanitizers included.
HOST_CFLAGS = [*build.HOST_CFLAGS, *build.SHARED_CFLAGS, *build.SANITIZE_CFLAGS]
HOST_C = """#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
int probe(char *out, size_t n, int32_t x) { return snprintf(out, n, "%d %g", x, sqrt(x)); }
size_t probe_len(const char *s) { return strlen(s); }
"""
PAGE = "<!doctype html><html><body><h1>closure</h1><table><tr><td>1.5</td></tr></table>" \
       "</body></html>"
# The flags tests/report/test_report_render.py gives chromium here.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
DROPPABLE = ["libnewlib-arm-none-eabi", "gcc-arm-none-eabi"]


@dataclass
class Traced:
    trace: Trace
    used: dict[str, list[str]]
    table: dict[str, PackageInfo]

    def __repr__(self) -> str:
        return f"Traced({self.trace.lines} strace lines, {len(self.used)} packages used)"


def _run_traced(cmd: list[str], log: Path, timeout: float) -> Trace:
    trace, proc = trace_command(cmd, log, cwd=REPO, capture_output=True, text=True,
                                timeout=timeout)
    assert proc.returncode == 0, f"{cmd[0]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return trace


@pytest.fixture(scope="module")
def traced(tmp_path_factory) -> Traced:
    """ONE firmware build + QEMU run through the CLI, a host gcc build and a chromium render,
    each under strace."""
    table = read_dpkg_table()
    missing = not_installed(setup_packages(), table)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if missing or chromium is None:
        # like tests/firmware: a skip on a dev machine, a failure under `make test` / CI
        reason = f"not installed: {missing or ['chromium']}; run scripts/setup-system.sh"
        if os.environ.get("TINYDEPLOY_REQUIRE_FIRMWARE") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("closure")
    (tmp / "probe.c").write_text(HOST_C)
    (tmp / "page.html").write_text(PAGE)
    tinydeploy = str(Path(sys.executable).parent / "tinydeploy")
    runs = {
        "firmware": ([tinydeploy, "firmware", "run", "--board", "qemu-m4", "--model-dir",
                      str(FC_MODEL), "--out", str(tmp / "fw")], 600),
        "gcc": (["gcc", *HOST_CFLAGS, str(tmp / "probe.c"), "-o", str(tmp / "libprobe.so"),
                 "-lm"], 120),
        "chromium": ([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'profile'}",
                      f"--screenshot={tmp / 'shot.png'}", "--window-size=400,300",
                      (tmp / "page.html").as_uri()], 120),
    }
    trace = Trace()
    for name, (cmd, timeout) in runs.items():
        trace = trace.merge(_run_traced(cmd, tmp / f"{name}.strace", timeout))
    assert (tmp / "fw" / "bench.json").is_file() and (tmp / "shot.png").is_file()
    return Traced(trace, packages_used(trace), table)


@pytest.mark.firmware
def test_every_package_used_is_installed_by_setup(traced: Traced) -> None:
    allowed = allowed_closure(setup_packages(), traced.table)
    missing = uncovered(without_incidental(traced.used), allowed)
    assert not missing, describe(missing)


@pytest.mark.firmware
def test_trace_saw_the_toolchain_and_qemu(traced: Traced) -> None:
    executed = traced.trace.executed
    assert any(p.endswith("/cc1") and "arm-none-eabi" in p for p in executed), executed
    assert any(p.endswith("/ld") and "arm-none-eabi" in p for p in executed), executed
    assert any(p.endswith("/qemu-system-arm") for p in executed), executed
    assert any(p.endswith("/cc1") and "x86_64-linux-gnu" in p for p in executed), executed
    for pkg in ("gcc-arm-none-eabi", "libnewlib-arm-none-eabi", "qemu-system-arm", "gcc",
                "chromium"):
        assert pkg in traced.used, f"{pkg} not among {sorted(traced.used)}"
    # the newlib C library itself was linked, not only a specs file read
    assert any("libc_nano.a" in f or "libc.a" in f for f in traced.used["libnewlib-arm-none-eabi"])


@pytest.mark.firmware
@pytest.mark.parametrize("drop", DROPPABLE)
def test_guard_fails_without_a_needed_package(traced: Traced, drop: str, tmp_path: Path) -> None:
    script = SETUP_SCRIPT.read_text()
    assert drop in setup_packages()
    trimmed_script = tmp_path / "setup-system.sh"
    kept = [line for line in script.splitlines()
            if line.split("#", 1)[0].strip() != drop]  # the package's line, comment and all
    trimmed_script.write_text("\n".join(kept) + "\n")
    trimmed = setup_packages(trimmed_script)
    assert drop not in trimmed and len(trimmed) == len(setup_packages()) - 1
    allowed = allowed_closure(trimmed, traced.table)
    assert drop not in allowed, f"{drop} is pulled in by the rest of the list: test is moot"
    missing = uncovered(without_incidental(traced.used), allowed)
    assert drop in missing
    message = describe(missing, trimmed_script)
    assert f"  {drop}  (e.g. /" in message and "PACKAGES list" in message


# ---- the logic on hand-written inputs (fast, no dpkg or strace) -------------------------

TABLE = "\n".join("\t".join(row) for row in [
    # Package, Status, Essential, Priority, Pre-Depends, Depends, Provides
    ("tool", "ii ", "no", "optional", "", "liba (>= 1.2) | libb:any, mail-transport-agent",
     ""),
    ("liba", "ii ", "no", "optional", "", "", ""),
    ("libb", "ii ", "no", "optional", "libpre", "", ""),
    ("libpre", "ii ", "no", "optional", "", "", ""),
    ("exim", "ii ", "no", "optional", "", "", "mail-transport-agent (= 4)"),
    ("libc", "ii ", "yes", "optional", "", "libgcc", ""),
    ("libgcc", "ii ", "no", "optional", "", "", ""),
    ("tzdata", "ii ", "no", "required", "", "", ""),
    ("recommended", "ii ", "no", "optional", "", "", ""),
    ("removed", "rc ", "no", "optional", "", "", ""),
    ("other", "ii ", "no", "optional", "", "recommended, removed | libc", ""),
]) + "\n"


def test_closure_follows_depends_alternatives_provides_and_essential() -> None:
    table = parse_dpkg_table(TABLE)
    assert "removed" not in table  # config files only: not installed
    assert dependency_closure(["tool"], table) == {"tool", "liba", "libb", "libpre", "exim"}
    assert baseline(table) == {"libc", "tzdata"}
    allowed = allowed_closure(["tool"], table)
    assert allowed == {"tool", "liba", "libb", "libpre", "exim", "libc", "libgcc", "tzdata"}
    assert "recommended" not in allowed and "other" not in allowed
    assert not_installed(["tool", "mail-transport-agent", "removed"], table) == ["removed"]
    used = {"liba": ["/usr/lib/liba.so"], "recommended": ["/usr/share/r/x", "/usr/share/r/y"]}
    assert uncovered(used, allowed, examples=1) == {"recommended": ["/usr/share/r/x"]}


def test_packages_array_and_dpkg_search_parsing() -> None:
    script = "set -e\nPACKAGES=(\n  gcc  # host\n  qemu-system-arm\n)\nother=(x)\n"
    assert parse_packages_array(script) == ["gcc", "qemu-system-arm"]
    out = ("libc6:amd64: /lib/x86_64-linux-gnu/libc.so.6\n"
           "llvm-14-linker-tools, gcc: /usr/lib/bfd-plugins\n"
           "diversion by dash from: /bin/sh\n")
    assert parse_dpkg_search(out) == {"/lib/x86_64-linux-gnu/libc.so.6": {"libc6"},
                                      "/usr/lib/bfd-plugins": {"llvm-14-linker-tools", "gcc"}}
    variants = path_variants("/lib/nonexistent-td/libx.so")
    assert {"/lib/nonexistent-td/libx.so", "/usr/lib/nonexistent-td/libx.so"} <= variants


def test_trace_attributes_opens_to_the_running_executable() -> None:
    log = """\
100 execve("/nonexistent/bin/py", ["py"], 0x1 /* 3 vars */) = 0
100 openat(AT_FDCWD</w>, "/usr/lib/py.so", O_RDONLY) = 3</usr/lib/py.so>
100 vfork( <unfinished ...>
101 openat(AT_FDCWD</w>, "/usr/lib/early", O_RDONLY) = 3</usr/lib/early>
101 execve("/usr/bin/cc", ["cc"], 0x2 /* 3 vars */ <unfinished ...>
100 <... vfork resumed>) = 101
101 <... execve resumed>) = 0
101 openat(AT_FDCWD</w>, "inc/a.h", O_RDONLY) = 4</w/inc/a.h>
101 openat(AT_FDCWD</w>, "/usr/include/missing.h", O_RDONLY) = -1 ENOENT (No such file)
101 clone3({flags=CLONE_VM|CLONE_THREAD}, 88 <unfinished ...>
102 openat(AT_FDCWD</w>, "/usr/lib/gcc/../x/crt1.o", O_RDONLY) = 5</usr/x/crt1.o>
101 <... clone3 resumed>) = 102
101 --- SIGCHLD {si_signo=SIGCHLD} ---
101 execve("/proc/self/exe", ["cc", "--type=child"], 0x3 /* 3 vars */) = 0
101 openat(AT_FDCWD</w>, "/usr/share/cc/data \\303\\251", O_RDONLY) = 3</usr/share/cc/data é>
101 execve("/nonexistent/x", ["x"], 0x4 /* 3 vars */) = -1 ENOENT (No such file)
"""
    trace = parse_trace(log.splitlines(keepends=True), cwd="/w")
    assert trace.executed == {"/nonexistent/bin/py", "/usr/bin/cc"}
    assert trace.opened == {
        "/nonexistent/bin/py": {"/usr/lib/py.so", "/usr/lib/early"},
        "/usr/bin/cc": {"/w/inc/a.h", "/usr/lib/x/crt1.o", "/usr/share/cc/data é"},
    }
    assert trace.lines == len(log.splitlines())


def test_incidental_files_are_not_charged() -> None:
    used = {"locales": ["/usr/share/locale/locale.alias"],
            "fonts-x": ["/usr/share/fonts/truetype/x/X.ttf", "/etc/fonts/conf.avail/x.conf"],
            "libc6-dev": ["/usr/include/stdio.h"]}
    assert without_incidental(used) == {"fonts-x": ["/etc/fonts/conf.avail/x.conf"],
                                        "libc6-dev": ["/usr/include/stdio.h"]}
    assert all(reason for reason in INCIDENTAL.values())


def test_failure_message_names_package_file_and_script() -> None:
    message = describe({"libstdc++-arm-none-eabi-newlib": ["/usr/lib/arm-none-eabi/x.a"]})
    assert "libstdc++-arm-none-eabi-newlib  (e.g. /usr/lib/arm-none-eabi/x.a)" in message
    assert "PACKAGES list in scripts/setup-system.sh" in message


def test_strace_is_listed_in_setup() -> None:
    """The guard itself needs strace on a fresh machine."""
    assert "strace" in setup_packages()
