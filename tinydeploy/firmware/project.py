"""The PlatformIO project a build runs in: written into the user's work directory.

The shipped template (`tinydeploy/resources/firmware/platformio.ini`) names every folder it
uses through one option, `[tinydeploy] root`. A build writes `<work_dir>/project/platformio.ini`
with that option pointing at the installed package data, so sources, kernels and the QEMU
platform are read from the package while PlatformIO's workspace, build objects and logs stay
in the work directory: nothing is ever written into site-packages.
"""

from __future__ import annotations

import configparser
import re
from functools import cache
from pathlib import Path

from tinydeploy.errors import FirmwareError
from tinydeploy.resources import firmware_dir
from tinydeploy.rundir import write_text_atomic

TEMPLATE_NAME = "platformio.ini"
_ROOT_OPTION = re.compile(r"^(\[tinydeploy\]\s*\n(?:;[^\n]*\n)*)root = \.$", re.MULTILINE)


def template_text() -> str:
    return (firmware_dir() / TEMPLATE_NAME).read_text()


def project_ini(root: Path | None = None) -> str:
    """The template with `[tinydeploy] root` set to `root` (default: the package data)."""
    root = (root or firmware_dir()).resolve()
    text, n = _ROOT_OPTION.subn(lambda m: f"{m.group(1)}root = {root}", template_text())
    if n != 1:
        raise FirmwareError(f"{firmware_dir() / TEMPLATE_NAME} has no '[tinydeploy] root = .' "
                            "option to point at the package data")
    return text


def write_project(work_dir: Path) -> Path:
    """Write (or refresh) `<work_dir>/project/platformio.ini`; returns the project folder."""
    project = work_dir / "project"
    project.mkdir(parents=True, exist_ok=True)
    ini = project / TEMPLATE_NAME
    text = project_ini()
    if not ini.is_file() or ini.read_text() != text:
        write_text_atomic(ini, text)
    return project


def pio_envs() -> list[str]:
    """The environment names the firmware project defines (`[env:NAME]` sections)."""
    return re.findall(r"^\[env:([^\]]+)\]", template_text(), re.MULTILINE)


@cache
def _template_config() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
    cfg.read_string(template_text())
    return cfg


def env_platform(env: str) -> str:
    """The `platform` option of `[env:NAME]`, following `extends` (as PlatformIO does)."""
    cfg = _template_config()
    section = f"env:{env}"
    seen = set()
    while section and section not in seen:
        seen.add(section)
        if not cfg.has_section(section):
            break
        if cfg.has_option(section, "platform"):
            return cfg.get(section, "platform")
        section = cfg.get(section, "extends", fallback="").strip()
    raise FirmwareError(f"env {env!r} of the firmware project names no platform")


def env_is_local(env: str) -> bool:
    """True when the env builds on the package's own platform (offline), not an official one."""
    return env_platform(env).startswith("symlink://")
