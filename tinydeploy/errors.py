"""The one family of user-facing errors.

Anything raised as a `TinydeployError` is a problem with the user's input or environment:
the CLI prints its message on one line and exits non-zero. Any other exception is a bug
and keeps its traceback.
"""

from __future__ import annotations


class TinydeployError(Exception):
    """A problem the user can fix; the message says what and, where possible, how."""

    exit_code = 2


class DataError(TinydeployError):
    """A dataset is missing, corrupt, or of the wrong shape."""


class ModelError(TinydeployError):
    """A model cannot be built, imported or loaded."""


class RunDirError(TinydeployError):
    """A run directory or artifact conflicts with what was asked (e.g. exists without --force)."""


class ExportError(TinydeployError):
    """A model cannot be exported (unsupported op, shape mismatch, corrupt file)."""


class FirmwareError(TinydeployError):
    """Firmware cannot be built or run (missing toolchain, model too big, crash, timeout)."""


def unknown_choice(kind: str, name: str, choices: list[str] | tuple[str, ...]) -> TinydeployError:
    """Error for a registry lookup that failed, listing the valid names."""
    return TinydeployError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(choices))}")
