"""Checkpoints: safetensors weights + a JSON metadata file, written atomically.

`<name>.safetensors` holds the state dict (masks included when a model is pruned) and
`<name>.json` the metadata: model spec, dataset, seed, accuracy, parameter count, git
revision. Nothing is unpickled on load. A checkpoint whose model carries extra structure
(e.g. pruning masks) lists in `meta["restore_hooks"]` the modules whose
`restore_model(model, state, meta)` function re-creates it before the weights are loaded;
this keeps the low layers unaware of the higher ones that extend the model.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from tinydeploy.errors import ModelError
from tinydeploy.models.registry import ModelSpec, build_model, count_parameters
from tinydeploy.rundir import atomic_path, file_hash, git_revision, write_json_atomic

WEIGHTS_SUFFIX = ".safetensors"


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """(weights, metadata) paths for a checkpoint given as either file or the common stem."""
    path = Path(path)
    if path.is_dir():
        path = path / "model"
    stem = path.with_suffix("") if path.suffix in (WEIGHTS_SUFFIX, ".json") else path
    return stem.with_suffix(WEIGHTS_SUFFIX), stem.with_suffix(".json")


def fingerprint(path: str | Path) -> str:
    """First 12 hex digits of the sha256 of a checkpoint's weights: results computed from a
    checkpoint carry it, so a retrained checkpoint never reuses stale ones."""
    weights, _ = checkpoint_paths(path)
    if not weights.is_file():
        raise ModelError(f"checkpoint {path} not found (no {weights})")
    return file_hash(weights)[:12]


def save_checkpoint(
    model: nn.Module, path: str | Path, meta: dict[str, Any], *, force: bool = True
) -> Path:
    weights, meta_path = checkpoint_paths(path)
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    full_meta = {
        "parameters": count_parameters(model),
        "git_revision": git_revision(),
        "torch_version": torch.__version__,
        **meta,
    }
    with atomic_path(weights, force=force) as tmp:
        save_file(state, str(tmp))
    write_json_atomic(meta_path, full_meta, force=force)
    return weights


def load_meta(path: str | Path) -> dict[str, Any]:
    _, meta_path = checkpoint_paths(path)
    try:
        return json.loads(meta_path.read_text())
    except FileNotFoundError as exc:
        raise ModelError(f"checkpoint metadata {meta_path} not found") from exc
    except json.JSONDecodeError as exc:
        raise ModelError(f"checkpoint metadata {meta_path} is not valid JSON: {exc}") from exc


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model from its spec and load the weights (no pickle involved)."""
    weights, _ = checkpoint_paths(path)
    meta = load_meta(path)
    if "model" not in meta:
        raise ModelError(f"{path}: metadata has no 'model' spec")
    model = build_model(ModelSpec.from_dict(meta["model"]))
    try:
        state = load_file(str(weights))
    except FileNotFoundError as exc:
        raise ModelError(f"checkpoint weights {weights} not found") from exc
    except (SafetensorError, OSError) as exc:
        raise ModelError(f"checkpoint weights {weights} are corrupt: {exc}") from exc
    for module_name in meta.get("restore_hooks", []):
        importlib.import_module(module_name).restore_model(model, state, meta)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelError(f"{weights} does not match model {meta['model']['name']}: {exc}") from exc
    model.eval()
    return model, meta
