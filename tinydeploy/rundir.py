"""Run directories and atomic artifact writes.

Every command writes into a run directory. Files are written to a temporary name in the
same directory and renamed into place, so a crash never leaves a half-written artifact,
and an existing result is only replaced when the caller says so (`--force`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tinydeploy.errors import RunDirError


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, force: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success rename it onto `target`.

    With force=False an existing target is an error (nothing is overwritten).
    """
    target = Path(target)
    if target.exists() and not force:
        raise RunDirError(f"{target} already exists; pass --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(target: str | os.PathLike[str], data: bytes, *, force: bool = True) -> Path:
    with atomic_path(target, force=force) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text_atomic(target: str | os.PathLike[str], text: str, *, force: bool = True) -> Path:
    return write_bytes_atomic(target, text.encode("utf-8"), force=force)


def write_json_atomic(target: str | os.PathLike[str], obj: Any, *, force: bool = True) -> Path:
    return write_text_atomic(target, json.dumps(obj, indent=2, sort_keys=True) + "\n", force=force)


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike[str], *, force: bool = False) -> Iterator[Path]:
    """Build a whole directory under a temporary name and move it into place on success.

    On failure the temporary directory is removed: no partial output is left behind. With
    force=True an existing target is replaced only after the new one is complete.
    """
    target = Path(target)
    if target.exists() and not force:
        raise RunDirError(f"{target} already exists; pass --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            backup = target.with_name(f".{target.name}.old")
            shutil.rmtree(backup, ignore_errors=True)
            os.replace(target, backup)
            os.replace(tmp, target)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_writable(path: Path, names: list[str], *, force: bool) -> None:
    """Refuse to start work whose results would overwrite existing files without --force."""
    existing = [n for n in names if (path / n).exists()]
    if existing and not force:
        raise RunDirError(
            f"{path} already holds {', '.join(existing)}; pass --force to overwrite, "
            "or choose another --out"
        )


def file_hash(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tool_version(cmd: list[str]) -> str:
    """The first line `cmd` (e.g. [compiler, "--version"]) prints, for a benchmark's
    provenance: "not found" when it cannot run, "" when it prints nothing."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return "not found"
    return out.splitlines()[0] if out else ""


def git_revision() -> str | None:
    """The project's git revision (with '-dirty' when modified), or None outside a checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, timeout=5,
        )
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return None


def cpu_model() -> str:
    """The host CPU's model name (benchmark provenance: wall times differ between hosts)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
