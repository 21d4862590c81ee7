"""Shared export fixtures: one briefly trained TinyNet, its 90%-sparse copy (with a dead
channel), and their int8 exports. onnx2tf runs once per model per session."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from export_constants import TRAIN_IMAGES

from tinydeploy.checkpoint import save_checkpoint
from tinydeploy.models import TinyNet
from tinydeploy.models.registry import ModelSpec


def train_briefly(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray,
                  batch: int = 64) -> torch.nn.Module:
    torch.manual_seed(0)
    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    y = torch.from_numpy(labels.astype(np.int64))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for i in range(0, len(x), batch):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x[i : i + batch]), y[i : i + batch])
        loss.backward()
        opt.step()
    return model.eval()


def magnitude_prune_(model: torch.nn.Module, sparsity: float = 0.9) -> torch.nn.Module:
    """Zero the smallest `sparsity` fraction of each conv/linear weight, in place."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.Conv2d | torch.nn.Linear):
                w = mod.weight
                k = int(sparsity * w.numel())
                thr = w.abs().flatten().kthvalue(k).values
                w[w.abs() <= thr] = 0
    return model


def _int8_inputs(images_u8: np.ndarray) -> np.ndarray:
    """uint8 NCHW -> int8 NHWC for input scale 1/255, zero point -128."""
    return (images_u8.astype(np.int16) - 128).astype(np.int8).transpose(0, 2, 3, 1).copy()


@pytest.fixture(scope="session")
def int8_inputs():
    return _int8_inputs


def _patch_opcode(data: bytes, old: str, new: str) -> bytes:
    """Rewrite the builtin code of operator code `old` to `new` in place (same size)."""
    import struct

    import tflite

    codes = vars(tflite.BuiltinOperator)
    buf = bytearray(data)
    model = tflite.Model.GetRootAsModel(data, 0)
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        if max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode()) != codes[old]:
            continue
        tab = oc._tab
        for slot, fmt in ((4, "b"), (10, "i")):  # deprecated_builtin_code, builtin_code
            off = tab.Offset(slot)
            if off:
                struct.pack_into("<" + fmt, buf, tab.Pos + off, codes[new])
    return bytes(buf)


@pytest.fixture(scope="session")
def patch_opcode():
    """(tflite bytes, old op name, new op name) -> the bytes with every `old` op relabelled."""
    return _patch_opcode


@pytest.fixture(scope="session")
def dense_model(mnist):
    torch.manual_seed(0)
    return train_briefly(TinyNet(), mnist.train_images[:TRAIN_IMAGES],
                         mnist.train_labels[:TRAIN_IMAGES])


@pytest.fixture(scope="session")
def sparse_model(dense_model):
    model = magnitude_prune_(copy.deepcopy(dense_model), 0.9)
    with torch.no_grad():
        model.conv2.weight[5] = 0  # a dead (fully pruned) output channel
    return model


def _checkpoint(model, path, **meta):
    spec = ModelSpec(name="tinynet", input_shape=(1, 28, 28), num_classes=10)
    save_checkpoint(model, path, {"model": spec.to_dict(), "dataset": "mnist", "kind": "test",
                                  **meta})
    return path.with_suffix(".safetensors")


@pytest.fixture(scope="session")
def dense_export(tmp_path_factory, dense_model, mnist):
    """(onnx path, tflite bytes) of the dense model via the library functions."""
    from tinydeploy.export.onnx_export import export_onnx
    from tinydeploy.export.tflite_export import onnx_to_int8_tflite

    d = tmp_path_factory.mktemp("dense")
    onnx_path = export_onnx(dense_model, (1, 28, 28), d / "model.onnx")
    before = onnx_path.read_bytes()
    tfl = onnx_to_int8_tflite(onnx_path, d / "model.tflite", mnist.train_images[:64])
    assert onnx_path.read_bytes() == before, "onnx2tf must not modify the input .onnx"
    return onnx_path, tfl.read_bytes()


@pytest.fixture(scope="session")
def sparse_checkpoint(tmp_path_factory, sparse_model):
    # its record says a QAT phase measured ranges on 500 images, as `tinydeploy prune` does;
    # the exports below calibrate on 64, which the export report must warn about
    return _checkpoint(sparse_model, tmp_path_factory.mktemp("ckpt") / "sparse",
                       prune={"rounds": [{"phase": "qat", "calibration_images": 500}]})


@pytest.fixture(scope="session")
def sparse_cli_export(tmp_path_factory, sparse_checkpoint, data_dir):
    """The sparse model exported end to end through the CLI (`--to c`)."""
    from tinydeploy.cli.main import main

    out = tmp_path_factory.mktemp("cli") / "export"
    rc = main(["export", "--checkpoint", str(sparse_checkpoint), "--to", "c", "--sparse",
               "auto", "--calib-images", "64", "--eval-limit", "300", "--data-dir",
               str(data_dir), "--out", str(out)])
    assert rc == 0
    return out


@pytest.fixture(scope="session")
def sparse_tflite(sparse_cli_export) -> bytes:
    return (sparse_cli_export / "model_int8.tflite").read_bytes()
