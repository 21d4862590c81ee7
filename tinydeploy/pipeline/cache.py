"""Content-addressed stage cache for `tinydeploy run`.

A stage's key is the hash of its name, its parameters and the keys of the stages it
consumes, so changing one option recomputes exactly what depends on it. Each stage builds
its output in a temporary directory that is renamed into `stages/<name>-<key>/` only when
the stage finished; an interrupted run therefore resumes at the first unfinished stage and
never sees half-written output.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinydeploy.rundir import atomic_directory, file_hash, write_json_atomic

RESULT_FILE = "stage.json"
# Bump when a stage's outputs change meaning, so old caches are not reused by mistake.
CACHE_VERSION = 1


def stage_key(name: str, params: dict[str, Any], inputs: list[str]) -> str:
    canonical = json.dumps(
        {"stage": name, "params": params, "inputs": inputs, "v": CACHE_VERSION},
        sort_keys=True, default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def file_digest(path: Path) -> str:
    """Short content hash of an input file (e.g. a checkpoint given to load)."""
    return file_hash(path)[:16]


@dataclass(frozen=True)
class StageResult:
    name: str
    key: str
    path: Path
    outputs: dict[str, Any]
    cached: bool
    seconds: float


class StageCache:
    def __init__(self, run_dir: Path) -> None:
        self.root = run_dir / "stages"
        self.root.mkdir(parents=True, exist_ok=True)

    def run(
        self,
        name: str,
        params: dict[str, Any],
        inputs: list[StageResult],
        build: Callable[[Path], dict[str, Any]],
    ) -> StageResult:
        """Return the cached result of this stage or run `build(tmp_dir) -> outputs`."""
        key = stage_key(name, params, [i.key for i in inputs])
        final = self.root / f"{name}-{key}"
        marker = final / RESULT_FILE
        if marker.is_file():
            record = json.loads(marker.read_text())
            return StageResult(name, key, final, record["outputs"], True, record["seconds"])
        start = time.perf_counter()
        with atomic_directory(final, force=True) as tmp:
            outputs = build(tmp)
            seconds = time.perf_counter() - start
            write_json_atomic(tmp / RESULT_FILE, {
                "stage": name, "key": key, "params": params,
                "inputs": [i.key for i in inputs], "outputs": outputs, "seconds": seconds,
            })
        return StageResult(name, key, final, outputs, False, seconds)
