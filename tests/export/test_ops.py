"""DEPTHWISE_CONV_2D, ADD (residual), AVERAGE_POOL_2D: reference == TFLM, host C == reference."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from tools_required import unavailable

from tinydeploy.codegen import generate_c
from tinydeploy.codegen.host import build_host_runner, run_host
from tinydeploy.export.runtimes import run_tflm
from tinydeploy.ir import read_tflite
from tinydeploy.ir.reference import run


class ResidualNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.dw = torch.nn.Conv2d(4, 4, 3, padding=1, groups=4)
        self.pool = torch.nn.AvgPool2d(2)
        self.fc = torch.nn.Linear(4 * 7 * 7, 10)

    def forward(self, x):
        y = torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
        y = y + torch.relu(self.dw(y))
        return self.fc(self.pool(y).flatten(1))


@pytest.fixture(scope="session")
def residual_tflite(tmp_path_factory, mnist) -> bytes:
    from tinydeploy.export.onnx_export import export_onnx
    from tinydeploy.export.tflite_export import onnx_to_int8_tflite

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("residual")
    export_onnx(ResidualNet().eval(), (1, 28, 28), d / "m.onnx")
    return onnx_to_int8_tflite(d / "m.onnx", d / "m.tflite", mnist.train_images[:32]).read_bytes()


def test_residual_ops_parse(residual_tflite):
    kinds = [op.kind for op in read_tflite(residual_tflite).ops]
    assert {"DEPTHWISE_CONV_2D", "ADD", "AVERAGE_POOL_2D"} <= set(kinds)


def test_residual_reference_equals_tflm_and_host_c(residual_tflite, mnist, int8_inputs,
                                                   tmp_path):
    g = read_tflite(residual_tflite)
    x = int8_inputs(mnist.test_images[:200])
    ref = run(g, x).reshape(200, -1)
    assert np.array_equal(ref, run_tflm(residual_tflite, x).reshape(ref.shape))
    if shutil.which("gcc") is None:
        unavailable("host gcc not installed")
    gen = generate_c(g, "auto", golden_input=x[0])
    (tmp_path / "c").mkdir()
    for name, text in gen.files.items():
        (tmp_path / "c" / name).write_text(text)
    exe = build_host_runner(tmp_path / "c", tmp_path / "b")
    assert np.array_equal(run_host(exe, x, 10), ref)
