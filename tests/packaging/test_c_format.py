"""The C sources are in the .clang-format style: the same check as `make lint`
(clang-format --dry-run --Werror over the tdnn library and the C test programs), so CI fails
on unformatted C. `make format` rewrites them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tools_required import unavailable

REPO = Path(__file__).resolve().parents[2]
FORMATTED = [REPO / "tinydeploy" / "resources" / "firmware" / "lib" / "tdnn",
             REPO / "tests" / "kernels" / "c"]  # fmt: skip


def clang_format() -> str:
    """The clang-format of the dev extra (next to this Python), else one on PATH."""
    beside = Path(sys.executable).with_name("clang-format")
    if beside.exists():
        return str(beside)
    found = shutil.which("clang-format")
    if found is None:
        unavailable("clang-format not installed (pip install -e '.[dev]' -c constraints.txt)")
    return found


def c_sources() -> list[Path]:
    return sorted(p for root in FORMATTED for p in root.rglob("*") if p.suffix in (".c", ".h"))


def test_c_sources_are_clang_formatted():
    files = c_sources()
    assert len(files) > 30  # the walk saw the library
    proc = subprocess.run([clang_format(), "--dry-run", "--Werror", *map(str, files)],
                          capture_output=True, text=True, cwd=REPO)  # fmt: skip
    assert proc.returncode == 0, f"run `make format`:\n{proc.stderr[-4000:]}"


def test_the_check_catches_unformatted_c(tmp_path):
    (tmp_path / ".clang-format").write_text((REPO / ".clang-format").read_text())
    bad = tmp_path / "bad.c"
    bad.write_text("int f(int x){return x+1;}\n")
    proc = subprocess.run([clang_format(), "--dry-run", "--Werror", str(bad)],
                          capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert proc.returncode != 0 and "bad.c" in proc.stderr
