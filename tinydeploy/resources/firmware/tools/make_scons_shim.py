#!/usr/bin/env python3
"""Create PlatformIO's `tool-scons` package as a shim over the pip-installed `scons`.

PlatformIO core insists on installing tool-scons from its registry, which is unreachable
offline. This writes `<core_dir>/packages/tool-scons/` with a `scons.py` that runs the PyPI
scons, plus the `package.json`/`.piopm` metadata carrying the version PlatformIO asks for.
Idempotent: an up-to-date shim is left alone. Run it with the Python that has platformio
and scons installed:

    python tools/make_scons_shim.py --core-dir .pio-core    (in a copy of this folder)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SHIM = '''# tinydeploy shim: PlatformIO runs "<python> <tool-scons>/scons.py ...".
# Delegate to the PyPI scons package.
import sys

import SCons.Script

if __name__ == "__main__":
    sys.exit(SCons.Script.main())
'''


def required_version() -> str:
    from platformio.dependencies import get_core_dependencies

    return get_core_dependencies()["tool-scons"].lstrip("~^=<> ")


def make_shim(core_dir: Path) -> tuple[Path, bool]:
    """Write the shim; returns (package dir, whether anything changed)."""
    try:
        import SCons  # noqa: F401
    except ImportError as exc:
        raise SystemExit(f"scons is not installed in {sys.executable}: pip install scons") from exc
    version = required_version()
    pkg = core_dir / "packages" / "tool-scons"
    files = {
        "scons.py": SHIM,
        "package.json": json.dumps(
            {"name": "tool-scons", "version": version, "description": "shim for PyPI scons"}
        ) + "\n",
        ".piopm": json.dumps(
            {
                "type": "tool", "name": "tool-scons", "version": version,
                "spec": {"owner": "platformio", "id": None, "name": "tool-scons",
                         "requirements": None, "uri": None},
            }
        ) + "\n",
    }
    changed = False
    pkg.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = pkg / name
        if path.exists() and path.read_text() == text:
            continue
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)
        changed = True
    return pkg, changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--core-dir", type=Path, required=True, help="PLATFORMIO_CORE_DIR")
    args = parser.parse_args(argv)
    pkg, changed = make_shim(args.core_dir.resolve())
    print(f"tool-scons shim {'written' if changed else 'up to date'}: {pkg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
