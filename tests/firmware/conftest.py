"""Firmware tests: build the harness with PlatformIO and run it under QEMU (marker `firmware`).

They need arm-none-eabi-gcc and qemu-system-arm on PATH; without them the firmware-marked
tests are skipped, unless TINYDEPLOY_REQUIRE_FIRMWARE=1 (CI) turns that into a failure.
"""

from __future__ import annotations

import os
import shutil

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if not any(m.startswith("firmware:") for m in config.getini("markers")):
        config.addinivalue_line("markers", "firmware: builds and runs firmware under QEMU")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = [t for t in ("arm-none-eabi-gcc", "qemu-system-arm") if shutil.which(t) is None]
    if not missing or os.environ.get("TINYDEPLOY_REQUIRE_FIRMWARE") == "1":
        return
    skip = pytest.mark.skip(reason=f"{', '.join(missing)} not on PATH")
    for item in items:
        if "firmware" in item.keywords:
            item.add_marker(skip)
