"""ONNX clean-ups before onnx2tf: F.pad's constant chain folded, zero spatial pads merged into
the convs reading them; any other pad stays a Pad and is refused by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tinydeploy.errors import ExportError
from tinydeploy.export.onnx_export import export_onnx, load_onnx, run_onnx
from tinydeploy.models.blocks import Conv2dSame


class SamePadNet(nn.Module):
    """A stride-2 'same' conv (asymmetric pad) whose input also feeds a 1x1 conv."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = Conv2dSame(2, 4, 3, 2)
        self.depthwise = Conv2dSame(4, 4, 3, 2, groups=4)
        self.side = nn.Conv2d(2, 4, 1, 2)

    def forward(self, x):
        return self.depthwise(torch.relu(self.conv(x) + self.side(x)))


class PaddedPool(nn.Module):
    def __init__(self, value: float = 0.0) -> None:
        super().__init__()
        self.value = value
        self.conv = nn.Conv2d(2, 2, 3)

    def forward(self, x):
        x = F.pad(x, (0, 1, 0, 1), value=self.value)
        return self.conv(x) if self.value else F.max_pool2d(x, 2)


def test_same_padding_becomes_conv_pads(tmp_path):
    torch.manual_seed(0)
    model = SamePadNet().eval()
    path = export_onnx(model, (2, 10, 12), tmp_path / "m.onnx")
    onnx_model = load_onnx(path)
    assert {n.op_type for n in onnx_model.graph.node} == {"Conv", "Add", "Relu"}
    pads = {n.name: next(list(a.ints) for a in n.attribute if a.name == "pads")
            for n in onnx_model.graph.node if n.op_type == "Conv"}
    # [top, left, bottom, right]: 10x12 -> (0, 1) both ways; 5x6 -> (1, 1) high, (0, 1) wide
    assert sorted(map(tuple, pads.values())) == [(0, 0, 0, 0), (0, 0, 1, 1), (1, 0, 1, 1)]
    x = np.random.default_rng(0).normal(size=(2, 2, 10, 12)).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(run_onnx(path, x), model(torch.from_numpy(x)).numpy(),
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("value", [0.0, 1.0])  # feeds a max pool / a non-zero pad value
def test_other_pads_are_refused_by_name(tmp_path, value: float):
    with pytest.raises(ExportError, match=r"unsupported ONNX op.*Pad"):
        export_onnx(PaddedPool(value).eval(), (2, 8, 8), tmp_path / "m.onnx")
