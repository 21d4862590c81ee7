"""ONNX export, parity with PyTorch, and the user-facing errors of the export front end."""

from __future__ import annotations

import onnx
import pytest
import torch

from tinydeploy.cli.main import main
from tinydeploy.errors import ExportError
from tinydeploy.export.onnx_export import check_parity, export_onnx, load_onnx


def test_onnx_single_file_opset_and_names(dense_export):
    onnx_path, _ = dense_export
    model = onnx.load(str(onnx_path))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["logits"]
    assert not list(onnx_path.parent.glob("*.onnx.data"))
    assert {n.op_type for n in model.graph.node} >= {"Conv", "Gemm"}


def test_onnx_parity_with_pytorch(dense_export, dense_model, mnist):
    res = check_parity(dense_export[0], dense_model, mnist.test_images[:300])
    assert res.ok and res.max_abs_diff < 1e-3 and res.top1_agreement == 1.0


def test_parity_failure_is_an_error(dense_export, dense_model, mnist):
    other = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)).eval()
    with pytest.raises(ExportError, match="parity"):
        check_parity(dense_export[0], other, mnist.test_images[:20])
    del dense_model


class _Tanh(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(784, 10)

    def forward(self, x):
        return torch.tanh(self.fc(x.flatten(1)))


def test_unsupported_onnx_op_is_named(tmp_path):
    with pytest.raises(ExportError, match="Tanh"):
        export_onnx(_Tanh().eval(), (1, 28, 28), tmp_path / "m.onnx")


def test_truncated_onnx_is_a_clear_error(dense_export, tmp_path):
    bad = tmp_path / "bad.onnx"
    data = dense_export[0].read_bytes()
    bad.write_bytes(data[: len(data) // 3])
    with pytest.raises(ExportError, match="not a valid ONNX model"):
        load_onnx(bad)
    out = tmp_path / "out"
    rc = main(["export", "--onnx", str(bad), "--dataset", "mnist", "--to", "tflite",
               "--out", str(out)])
    assert rc != 0
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_shape_mismatch_is_a_clear_error(tmp_path, capsys):
    from tinydeploy.checkpoint import save_checkpoint
    from tinydeploy.models import TinyNet
    from tinydeploy.models.registry import ModelSpec

    spec = ModelSpec(name="tinynet", input_shape=(1, 32, 32), num_classes=10)
    ckpt = save_checkpoint(TinyNet(image_size=32), tmp_path / "m",
                           {"model": spec.to_dict(), "dataset": "mnist"})
    out = tmp_path / "out"
    rc = main(["export", "--checkpoint", str(ckpt), "--to", "onnx", "--out", str(out)])
    assert rc == 2
    assert "shape mismatch" in capsys.readouterr().err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
