"""The host tools the firmware needs, and the environment PlatformIO runs in.

Everything here is offline: the Debian cross toolchain and QEMU on PATH, PlatformIO from the
Python environment, its core dir in the user's cache (or $TINYDEPLOY_PIO_CORE_DIR) with the
tool-scons shim created on first use. Nothing is written inside the installed package.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tinydeploy.errors import FirmwareError
from tinydeploy.resources import firmware_dir


def pio_command() -> list[str]:
    """PlatformIO run by the current Python when it can import it (so it is the same
    environment as tinydeploy's, whatever PATH says), else `pio` on PATH."""
    if importlib.util.find_spec("platformio") is not None:
        return [sys.executable, "-m", "platformio"]
    found = shutil.which("pio")
    if found is None:
        raise FirmwareError("PlatformIO not found: pip install 'platformio>=6.2,<7' "
                            "'scons>=4.11,<5'")
    return [found]


def core_dir() -> Path:
    """PlatformIO's core dir: $TINYDEPLOY_PIO_CORE_DIR, else one per installed tinydeploy in
    $XDG_CACHE_HOME/tinydeploy (PlatformIO records the local platform by name, so two installs
    sharing a core dir would build with whichever registered its platform first)."""
    if os.environ.get("TINYDEPLOY_PIO_CORE_DIR"):
        return Path(os.environ["TINYDEPLOY_PIO_CORE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    install = hashlib.sha256(str(firmware_dir()).encode()).hexdigest()[:12]
    return base / "tinydeploy" / f"pio-core-{install}"


def ensure_scons_shim(core: Path | None = None) -> Path:
    """Create the tool-scons shim in the PlatformIO core dir (idempotent, fast when present)."""
    core = core or core_dir()
    marker = core / "packages" / "tool-scons" / ".piopm"
    if marker.exists():
        return marker.parent
    script = firmware_dir() / "tools" / "make_scons_shim.py"
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
