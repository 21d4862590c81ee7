"""Helpers shared by the sweep tests."""

from __future__ import annotations

import os

import pytest


def require_ray() -> None:
    """Ray tests need `pip install -e '.[dev,ray]'`: without Ray they are skipped with a
    reason locally, and fail in CI mode (TINYDEPLOY_REQUIRE_FIRMWARE=1, as `make test` sets,
    or TINYDEPLOY_REQUIRE_RAY=1) so a broken install never passes silently."""
    try:
        import ray  # noqa: F401
    except ImportError:
        message = "ray is not installed: pip install -e '.[dev,ray]'"
        if "1" in (os.environ.get("TINYDEPLOY_REQUIRE_FIRMWARE"),
                   os.environ.get("TINYDEPLOY_REQUIRE_RAY")):
            pytest.fail(message)
        pytest.skip(message)
