"""`unavailable(reason)`: a test whose tool is missing skips with the reason locally and
fails in CI mode (TINYDEPLOY_REQUIRE_FIRMWARE=1, as `make test` and `.ci/run` set), so a
missing install step can never pass as a skip. (tests/ is on sys.path through its
conftest.py, so any test module can import this.)"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def required() -> bool:
    return os.environ.get("TINYDEPLOY_REQUIRE_FIRMWARE") == "1"


def unavailable(reason: str) -> NoReturn:
    if required():
        pytest.fail(f"{reason} (TINYDEPLOY_REQUIRE_FIRMWARE=1: a missing tool is a failure)")
    pytest.skip(reason)


def required_module(name: str):
    """Import `name`; if it is not installed, `unavailable` (a failure in CI mode)."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        unavailable(f"Python module {name} is not installed ({exc})")
