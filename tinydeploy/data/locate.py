"""Where dataset files are found, and how they are fetched when they are not.

Search order: the --data-dir flag, the TINYDEPLOY_DATA environment variable, the user cache
directory, then system locations (Debian's dataset packages); an explicit --data-dir is the
only place searched. Each root may hold the files
directly or in a sub-folder named after the dataset. If nothing is found the files are
downloaded into the cache (checksums verified); offline, the error says where to put them.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from tinydeploy.errors import DataError
from tinydeploy.rundir import atomic_path, file_hash

ENV_VAR = "TINYDEPLOY_DATA"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tinydeploy" / "datasets"


def search_roots(data_dir: str | Path | None, system_dirs: Sequence[Path] = ()) -> list[Path]:
    if data_dir is not None:
        # An explicit flag is authoritative: silently falling back elsewhere would hide typos.
        root = Path(data_dir)
        if not root.is_dir():
            raise DataError(f"data directory {root} does not exist or is not a directory")
        return [root]
    roots: list[Path] = []
    env = os.environ.get(ENV_VAR)
    if env:
        roots.append(Path(env))
    roots.append(cache_dir())
    roots.extend(system_dirs)
    return roots


def find_files(
    dataset: str, filenames: Sequence[str], roots: Sequence[Path]
) -> Path | None:
    """First folder (root or root/dataset) that holds every file, or None."""
    for root in roots:
        for folder in (root / dataset, root):
            if all((folder / name).is_file() for name in filenames):
                return folder
    return None


def md5_of(path: Path) -> str:
    """The checksum the public mirrors publish for their files."""
    return file_hash(path, "md5")


def download(
    dataset: str,
    files: dict[str, str],
    mirrors: Sequence[str],
    *,
    timeout: float = 30.0,
) -> Path:
    """Download `files` (name -> md5) into the cache from the first mirror that works."""
    target = cache_dir() / dataset
    errors: list[str] = []
    with Progress(
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
        TransferSpeedColumn(), transient=True,
    ) as progress:
        for name, md5 in files.items():
            dest = target / name
            if dest.is_file() and md5_of(dest) == md5:
                continue
            for mirror in mirrors:
                url = mirror.rstrip("/") + "/" + name
                try:
                    _fetch(url, dest, md5, progress, timeout)
                    break
                except (urllib.error.URLError, OSError, DataError) as exc:
                    errors.append(f"{url}: {exc}")
            else:
                raise DataError(
                    f"dataset {dataset!r} not found locally and could not be downloaded "
                    f"({errors[-1] if errors else 'no mirrors'}). Put {', '.join(files)} in "
                    f"<dir>/{dataset}/ and pass --data-dir <dir> or set {ENV_VAR}=<dir>"
                )
    return target


def _fetch(url: str, dest: Path, md5: str, progress: Progress, timeout: float) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        task = progress.add_task(dest.name, total=total)
        with atomic_path(dest) as tmp:
            with tmp.open("wb") as fh:
                while chunk := response.read(1 << 16):
                    fh.write(chunk)
                    progress.advance(task, len(chunk))
            got = md5_of(tmp)
            if got != md5:
                raise DataError(f"checksum mismatch for {url}: md5 {got}, expected {md5}")
