"""In CI mode (TINYDEPLOY_REQUIRE_FIRMWARE=1) a kernel or firmware test that skips, for any
reason, is a failure: the suite's own conftest.py is run on a skipping test in a copy of
the folder layout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def run_skipping_test(tmp_path: Path, folder: str, require: bool) -> subprocess.CompletedProcess:
    root = tmp_path / "tests"
    (root / folder).mkdir(parents=True)
    shutil.copy(TESTS / "conftest.py", root / "conftest.py")
    (root / folder / "test_skipping.py").write_text(
        "import pytest\n\n\ndef test_skips():\n    pytest.skip('a tool is missing')\n")
    env = {k: v for k, v in os.environ.items() if k != "TINYDEPLOY_REQUIRE_FIRMWARE"}
    if require:
        env["TINYDEPLOY_REQUIRE_FIRMWARE"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(root)], capture_output=True, text=True, env=env, cwd=tmp_path)


def test_a_skip_in_the_kernel_tests_fails_in_ci_mode(tmp_path: Path):
    proc = run_skipping_test(tmp_path, "kernels", require=True)
    assert proc.returncode != 0 and "1 failed" in proc.stdout, proc.stdout


def test_a_skip_stays_a_skip_locally_and_outside_the_device_tests(tmp_path: Path):
    assert "1 skipped" in run_skipping_test(tmp_path / "a", "kernels", require=False).stdout
    assert "1 skipped" in run_skipping_test(tmp_path / "b", "sweep", require=True).stdout
