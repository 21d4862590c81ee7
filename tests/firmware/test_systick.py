"""The harness's SysTick clock on QEMU never steps back or jumps across a wrap of the 24-bit
counter. After the wrap interrupt QEMU's counter still reads 0 for one tick; reading that as
the new period made one timestamp 2^24 ticks (671M instructions) ahead, which once turned
one inference of 10,000 into 671,307,160 instructions and its run's mean into nonsense."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tinydeploy.resources import firmware_dir

REPO = Path(__file__).resolve().parents[2]
KERNEL_BENCH = REPO / "benchmarks" / "kernels"  # its start-up, semihosting and memory map
PROBE = Path(__file__).parent / "fixtures" / "systick_probe" / "systick_probe.c"


@pytest.mark.firmware
def test_systick_time_is_continuous_across_a_wrap(tmp_path: Path):
    elf = tmp_path / "probe.elf"
    subprocess.run(
        ["arm-none-eabi-gcc", "-mthumb", "-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16",
         "-mfloat-abi=hard", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror",
         "-ffreestanding", f"-I{KERNEL_BENCH}", f"-I{firmware_dir() / 'src'}",
         str(KERNEL_BENCH / "startup.c"), str(PROBE), "-nostdlib", "-nostartfiles",
         f"-L{KERNEL_BENCH}", "-T", str(KERNEL_BENCH / "mem_an386.ld"), "-Wl,--gc-sections",
         "-Wl,--start-group", "-lc", "-lgcc", "-Wl,--end-group", "-o", str(elf)],
        check=True, capture_output=True, text=True)
    proc = subprocess.run(
        ["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial",
         "none", "-semihosting-config", "enable=on,target=native", "-icount", "shift=0",
         "-kernel", str(elf)], capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    found = re.search(r"SYSTICK wraps=(\d+) back=(\d+) max_step=(\d+)", log)
    assert found, log
    wraps, back, max_step = (int(v) for v in found.groups())
    assert wraps >= 1
    assert back == 0 and max_step <= 2, log  # reads are under a tick apart
