"""TOML files (run configs, sweep configs, board profiles) read with one-line errors."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from tinydeploy.errors import TinydeployError


def read_toml(path: str | Path, what: str,
              error: type[TinydeployError] = TinydeployError) -> dict[str, Any]:
    """The parsed file; `what` names it in errors ("sweep config", "board profile")."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise error(f"{what} {path} not found") from exc
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{what} {path} is not valid TOML: {exc}") from exc
