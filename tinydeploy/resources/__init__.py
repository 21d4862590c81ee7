"""Files tinydeploy ships beside its Python code, found the same way in a checkout and a wheel.

- `firmware/`: the PlatformIO project template (benchmark harness `src/`, the tdnn kernel
  library `lib/tdnn/`, the offline QEMU platform `platform/`, build scripts `tools/`);
- `boards/`: the built-in board profiles (one TOML file per board);
- `cost_models/`: measured per-kernel instruction models, one JSON file per core.

They are package data, located with `importlib.resources`, so a normal (non-editable)
install builds firmware from any directory. They are read-only: builds write into the
user's work directory (see `tinydeploy.firmware.project`), never in here.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path


@cache
def root() -> Path:
    """The folder holding the package data (a real directory: tinydeploy is not zip-safe)."""
    return Path(str(files(__name__)))


def firmware_dir() -> Path:
    """The PlatformIO project template (platformio.ini, src/, lib/, platform/, tools/)."""
    return root() / "firmware"


def tdnn_dir() -> Path:
    """The int8 kernel library (include/, src/)."""
    return firmware_dir() / "lib" / "tdnn"


def boards_dir() -> Path:
    """The built-in board profiles."""
    return root() / "boards"


def cost_model_path(core: str = "cortex-m4") -> Path:
    """The measured instruction-count model of the tdnn kernels on `core`."""
    return root() / "cost_models" / f"{core}.json"
