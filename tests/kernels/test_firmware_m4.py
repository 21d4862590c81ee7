"""The DSP (Cortex-M4) paths are bit-exact with the host build: runs a subset of the QEMU
benchmark, whose firmware compares every kernel output with the host library's, and the
SOFTMAX cases of test_softmax_kernel.py the same way."""

from __future__ import annotations

import subprocess
import sys

import pytest
from test_conv import BENCH, kernel_bench, require_qemu_tools, run_on_qemu
from test_softmax_kernel import fixedpoint_probe_cases, softmax_cases


@pytest.mark.firmware
def test_dsp_kernels_match_host_on_qemu_m4(tmp_path):
    require_qemu_tools()
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--only", "^(conv1|fc2|calib_conv|calib_fc)/",
         "--keep-build", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(("conv1", "calib", "fc2"))]
    assert len(lines) == 40, proc.stdout
    assert (tmp_path / "bench.elf").exists()


@pytest.mark.firmware
def test_softmax_matches_host_on_qemu_m4(tdnn, tmp_path):
    require_qemu_tools()
    cases = softmax_cases(tdnn, 0, kernel_bench().c_array) + fixedpoint_probe_cases()
    assert len(cases) == 13
    run_on_qemu(tmp_path, cases, "m4")
