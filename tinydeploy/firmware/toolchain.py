"""Where the firmware project and its tools are, and the environment PlatformIO runs in.

Everything here is offline: the Debian cross toolchain and QEMU on PATH, PlatformIO from the
Python environment, its core dir inside the project (or $TINYDEPLOY_PIO_CORE_DIR) with the
tool-scons shim created on first use.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tinydeploy.errors import FirmwareError

REPO = Path(__file__).resolve().parents[2]
FIRMWARE_DIR = REPO / "firmware"
APT_LINE = (
    "sudo apt-get update && sudo apt-get install -y gcc-arm-none-eabi "
    "libnewlib-arm-none-eabi qemu-system-arm"
)
BUILD_TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-size", "arm-none-eabi-nm")
RUN_TOOLS = ("qemu-system-arm",)


def require_tools(tools: tuple[str, ...] | list[str], path: str | None = None) -> dict[str, str]:
    """Resolve `tools` on PATH (or `path`); a missing one is an error naming the apt line."""
    found = {t: shutil.which(t, path=path) for t in tools}
    missing = [t for t, where in found.items() if where is None]
    if missing:
        raise FirmwareError(
            f"{', '.join(missing)} not found on PATH; install the Arm cross toolchain and "
            f"QEMU: {APT_LINE}"
        )
    return {t: str(w) for t, w in found.items()}


def pio_executable() -> str:
    """`pio` beside the running Python (the venv), else on PATH."""
    beside = Path(sys.executable).parent / "pio"
    if beside.exists():
        return str(beside)
    found = shutil.which("pio")
    if found is None:
        raise FirmwareError("PlatformIO not found: pip install platformio==6.2.0 scons==4.11.1")
    return found


def core_dir() -> Path:
    return Path(os.environ.get("TINYDEPLOY_PIO_CORE_DIR", FIRMWARE_DIR / ".pio-core"))


def ensure_scons_shim(core: Path | None = None) -> Path:
    """Create the tool-scons shim in the PlatformIO core dir (idempotent, fast when present)."""
    core = core or core_dir()
    marker = core / "packages" / "tool-scons" / ".piopm"
    if marker.exists():
        return marker.parent
    script = FIRMWARE_DIR / "tools" / "make_scons_shim.py"
    try:
        proc = subprocess.run(
            [sys.executable, str(script), "--core-dir", str(core)],
            capture_output=True, text=True, timeout=60,
        )
    except subprocess.TimeoutExpired as exc:
        raise FirmwareError("creating the tool-scons shim timed out") from exc
    if proc.returncode != 0:
        raise FirmwareError(
            "cannot create PlatformIO's tool-scons shim (pip install platformio==6.2.0 "
            f"scons==4.11.1): {(proc.stderr or proc.stdout).strip()[-500:]}"
        )
    return marker.parent


def pio_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for `pio`: private core dir, no telemetry, no update checks."""
    env = dict(os.environ)
    env.update(
        PLATFORMIO_CORE_DIR=str(core_dir()),
        PLATFORMIO_SETTING_ENABLE_TELEMETRY="No",
        PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL="3650",
        PLATFORMIO_NO_ANSI="true",
    )
    env.update(extra or {})
    return env
