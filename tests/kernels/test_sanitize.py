"""tdnn under AddressSanitizer + UBSan (child process with LD_PRELOAD) and cross-compiled."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tools_required import unavailable

from tinydeploy.tdnn.build import TDNN_DIR, sanitizer_env, tdnn_sources

DRIVER = Path(__file__).with_name("sanitize_driver.py")


@pytest.mark.sanitize
def test_kernels_clean_under_asan_ubsan(hostlib_cache, tmp_path):
    try:
        env = sanitizer_env()
    except Exception as exc:  # no libasan for this gcc
        unavailable(f"sanitizer runtime unavailable: {exc}")
    results = {}
    for label, extra, child_env in [("asan", ["--sanitize"], env), ("plain", [], None)]:
        out = tmp_path / f"{label}.npz"
        proc = subprocess.run(
            [sys.executable, str(DRIVER), str(hostlib_cache), str(out), *extra],
            env=child_env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, f"{label} run failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
        assert "runtime error" not in proc.stderr, proc.stderr[-4000:]
        results[label] = dict(np.load(out))
    assert results["asan"].keys() == results["plain"].keys()
    for key, value in results["plain"].items():
        np.testing.assert_array_equal(results["asan"][key], value, err_msg=key)


CPUS = {
    "cortex-m3": ["-mcpu=cortex-m3"],
    "cortex-m4": ["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"],
    "cortex-m7": ["-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard"],
    "cortex-m33": ["-mcpu=cortex-m33"],
    "cortex-m55": ["-mcpu=cortex-m55"],
}


@pytest.mark.cross
@pytest.mark.parametrize("cpu", list(CPUS))
def test_cross_compiles_warning_free(cpu, tmp_path):
    if shutil.which("arm-none-eabi-gcc") is None:
        unavailable("arm-none-eabi-gcc not on PATH (apt-get install gcc-arm-none-eabi)")
    srcs = [str(s) for s in tdnn_sources() if s.suffix == ".c"]
    cmd = ["arm-none-eabi-gcc", "-mthumb", *CPUS[cpu], "-std=c99", "-Wall", "-Wextra", "-Werror",
           "-O2", "-ffreestanding", f"-I{TDNN_DIR / 'include'}", "-c", *srcs]  # fmt: skip
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len(list(tmp_path.glob("*.o"))) == len(srcs)
