"""`tinydeploy doctor`: everything the toolchain needs, checked, each with its fix.

The firmware checks come from `tinydeploy.firmware.requirements` (the same ones the firmware
commands run before building, and the optional flash tools of real boards); this module adds
the host compiler, the Python stack, the browser used for report screenshots and the
datasets.
"""

from __future__ import annotations

import importlib.metadata as md
import shutil
from collections.abc import Callable

from tinydeploy.firmware.requirements import (
    Finding,
    apt,
    cross_compiler,
    newlib_nano,
    platformio,
    qemu,
    tool_version,
    uploaders,
)


def host_compiler() -> list[Finding]:
    return [tool_version("gcc", "host C compiler", "gcc")]


def browser() -> list[Finding]:
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            f = tool_version(name, "browser (report screenshots)", "chromium", required=False)
            return [f]
    return [Finding("browser (report screenshots)", False,
                    "chromium not found: only the report screenshot test needs it",
                    apt("chromium"), required=False)]


PYTHON_STACK = ("torch", "tensorflow", "onnx", "onnx2tf", "onnxruntime", "ai-edge-litert",
                "tflite-micro", "tflite")


def python_stack() -> list[Finding]:
    versions, missing = [], []
    for dist in PYTHON_STACK:
        try:
            versions.append(f"{dist} {md.version(dist)}")
        except md.PackageNotFoundError:
            missing.append(dist)
    if missing:
        return [Finding("Python packages", False, f"missing: {', '.join(missing)}",
                        "pip install tinydeploy (or, in a checkout: make setup)")]
    return [Finding("Python packages", True, ", ".join(versions))]


def datasets() -> list[Finding]:
    from tinydeploy.data.mnist import FASHION_MNIST, MNIST, find_idx_folder

    out = []
    for source in (MNIST, FASHION_MNIST):
        folder = find_idx_folder(source)
        out.append(Finding(
            f"dataset {source.name}", folder is not None,
            f"found in {folder}" if folder else "not found locally; downloaded (checksummed) "
            "on first use, or point $TINYDEPLOY_DATA / --data-dir at the IDX files",
            "" if folder else "export TINYDEPLOY_DATA=/path/to/datasets", required=False))
    return out


CHECKS: dict[str, Callable[[], list[Finding]]] = {
    "cross compiler": cross_compiler,
    "newlib nano": newlib_nano,
    "qemu": qemu,
    "flash tools": uploaders,
    "platformio": platformio,
    "host compiler": host_compiler,
    "python": python_stack,
    "browser": browser,
    "datasets": datasets,
}


def run_all() -> list[Finding]:
    return [f for check in CHECKS.values() for f in check()]
