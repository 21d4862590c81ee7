"""Sparse conv with slim descriptors (values, column indices and N:M metadata NULL): the C
program tests/kernels/c/slim_sparse_conv.c checks td_conv_csr_s8 / td_conv_nm_s8 and their
_get_buffer_size against a C reference and the full descriptor, and that the fully connected
kernels reject such descriptors. Built for the host (portable path, with and without
TD_VALIDATE_INDICES, under ASan/UBSan, at -O0) and run on QEMU Cortex-M4 (DSP path) and
Cortex-M55 (Helium path)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from test_conv import kernel_bench, require_qemu_tools
from tools_required import unavailable

from tinydeploy.resources import tdnn_dir

PROGRAM = Path(__file__).with_name("c") / "slim_sparse_conv.c"
TDNN = tdnn_dir()
SOURCES = sorted(str(p) for p in (TDNN / "src").rglob("*.c"))
WARN = ["-std=c99", "-Wall", "-Wextra", "-Werror"]


def check_log(proc: subprocess.CompletedProcess[str]) -> None:
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "checks passed" in log, log[-3000:]


@pytest.mark.parametrize(
    "flags",
    [["-O2"], ["-O2", "-DTD_VALIDATE_INDICES"], ["-O0", "-DTD_VALIDATE_INDICES"]],
    ids=["O2", "O2-validate", "O0-validate"],
)
def test_slim_sparse_conv_host(tmp_path, flags):
    if shutil.which("gcc") is None:
        unavailable("gcc not on PATH")
    exe = tmp_path / "slim"
    cmd = ["gcc", *WARN, *flags, f"-I{TDNN / 'include'}", *SOURCES, str(PROGRAM), "-o", str(exe)]
    build = subprocess.run(cmd, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    check_log(subprocess.run([str(exe)], capture_output=True, text=True, timeout=60))


@pytest.mark.sanitize
def test_slim_sparse_conv_host_sanitized(tmp_path):
    if shutil.which("gcc") is None:
        unavailable("gcc not on PATH")
    exe = tmp_path / "slim_asan"
    san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g"]
    cmd = ["gcc", *WARN, "-O1", "-DTD_VALIDATE_INDICES", *san, f"-I{TDNN / 'include'}",
           *SOURCES, str(PROGRAM), "-o", str(exe)]  # fmt: skip
    build = subprocess.run(cmd, capture_output=True, text=True)
    if build.returncode != 0 and "asan" in build.stderr.lower():
        unavailable(f"sanitizer runtime unavailable: {build.stderr[-300:]}")
    assert build.returncode == 0, build.stderr
    env = {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1", "UBSAN_OPTIONS": "halt_on_error=1"}
    check_log(subprocess.run([str(exe)], capture_output=True, text=True, timeout=120, env=env))


@pytest.mark.firmware
@pytest.mark.parametrize("core", ["m4", "m55"])
def test_slim_sparse_conv_on_qemu(tmp_path, core):
    require_qemu_tools()
    bench = kernel_bench()
    spec = bench.CORES[core]
    here = bench.HERE
    elf = tmp_path / "slim.elf"
    cmd = [
        "arm-none-eabi-gcc", *spec.cpu_flags, *WARN, "-O2", "-ffreestanding",
        "-DTD_SEMIHOSTING", f"-I{TDNN / 'include'}", f"-I{here}", str(here / "startup.c"),
        *SOURCES, str(PROGRAM), "-nostdlib", "-nostartfiles", f"-L{here}", "-T",
        str(here / spec.ldscript), "-Wl,--gc-sections", "-Wl,--start-group", "-lc", "-lgcc",
        "-Wl,--end-group", "-o", str(elf),
    ]  # fmt: skip
    build = subprocess.run(cmd, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = [
        "qemu-system-arm", "-M", spec.machine, "-nographic", "-monitor", "none", "-serial",
        "none", "-semihosting-config", "enable=on,target=native", "-kernel", str(elf),
    ]  # fmt: skip
    check_log(subprocess.run(run, capture_output=True, text=True, timeout=300))
