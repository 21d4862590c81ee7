"""PyTorch -> ONNX (single file, opset >= 17) and the onnxruntime parity check."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tinydeploy.errors import ExportError

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
DEFAULT_OPSET = 17

# ONNX ops the int8 path (onnx2tf -> TFLite -> IR -> C) can carry. Anything else is refused
# before the slow conversion starts, with the op named.
SUPPORTED_ONNX_OPS = frozenset({
    "Conv", "Relu", "Clip", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Gemm",
    "MatMul", "Add", "Reshape", "Transpose", "Softmax", "Identity", "Constant", "Shape",
    "Gather", "Unsqueeze", "Concat", "Squeeze",
})


@dataclass(frozen=True)
class ParityResult:
    """onnxruntime vs PyTorch on the same float inputs."""

    num_images: int
    max_abs_diff: float
    top1_agreement: float  # fraction in [0, 1]
    tolerance: float
    min_agreement: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance and self.top1_agreement >= self.min_agreement

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def prepare_model(model):
    """A plain eval-mode model: pruning masks multiplied in when the model carries them, the
    batch norms of tinydeploy's conv/dense + BN blocks folded into their layers."""
    from tinydeploy.models.blocks import fold_batchnorm

    try:
        from tinydeploy.prune import masks as prune_masks  # the pruning package, if installed
    except ImportError:
        return fold_batchnorm(model.eval())
    if prune_masks.is_pruned(model):
        model = prune_masks.make_permanent(model)
    return fold_batchnorm(model.eval())


def export_onnx(model, input_shape: tuple[int, int, int], path: str | Path,
                opset: int = DEFAULT_OPSET) -> Path:
    """Write `model` (float input x/255, NCHW, batch 1) to one self-contained .onnx file."""
    import torch

    if opset < 17:
        raise ExportError(f"ONNX opset {opset} is too old; tinydeploy exports opset >= 17")
    path = Path(path)
    model = prepare_model(model)
    dummy = torch.zeros(1, *input_shape)
    try:
        with torch.no_grad():
            model(dummy)
    except RuntimeError as exc:
        raise ExportError(
            f"model does not accept input of shape {list(dummy.shape)} (shape mismatch): {exc}"
        ) from exc
    with warnings.catch_warnings():
        # The graph is exported for one input shape, so sizes read in forward (e.g. 'same'
        # padding, whole-map pooling) are constants: the tracer's warning about them, and
        # the exporter's about the reversed Slice of F.pad's pads (folded afterwards by
        # _simplify_in_place), say nothing the user can act on.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
        torch.onnx.export(
            model, (dummy,), str(path), dynamo=False, opset_version=opset,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
        )
    _simplify_in_place(path)
    check_onnx_ops(load_onnx(path))
    return path


def _simplify_in_place(path: Path) -> None:
    """Constant pad chains folded, zero Pads merged into their convs (see onnx_passes)."""
    import onnx

    from tinydeploy.export.onnx_passes import simplify

    model = onnx.load(str(path))
    if any(n.op_type == "Pad" for n in model.graph.node):
        onnx.save(simplify(model), str(path))


def load_onnx(path: str | Path):
    """Load and validate an .onnx file; a truncated or corrupt file is an ExportError."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ExportError(f"ONNX file {path} not found")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:  # protobuf DecodeError, ValidationError, ...
        raise ExportError(
            f"{path} is not a valid ONNX model (truncated or corrupt?): {exc}"
        ) from exc
    if not model.graph.node:
        raise ExportError(f"{path} is not a valid ONNX model: the graph has no nodes")
    return model


def check_onnx_ops(model) -> None:
    unsupported = sorted({n.op_type for n in model.graph.node} - SUPPORTED_ONNX_OPS)
    if unsupported:
        raise ExportError(
            f"unsupported ONNX op(s) {', '.join(unsupported)}; the int8 path supports "
            f"{', '.join(sorted(SUPPORTED_ONNX_OPS))}"
        )


def onnx_io(model) -> tuple[str, list[int], str]:
    """(input name, input shape, output name) of a single-input single-output model."""
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1 or len(model.graph.output) != 1:
        raise ExportError(
            f"expected one input and one output, got {len(inputs)} inputs and "
            f"{len(model.graph.output)} outputs"
        )
    dims = [d.dim_value or 1 for d in inputs[0].type.tensor_type.shape.dim]
    return inputs[0].name, dims, model.graph.output[0].name


def run_onnx(path: str | Path, x: np.ndarray, batch: int = 1) -> np.ndarray:
    """Float outputs of onnxruntime for float NCHW inputs (the exported graph has batch 1)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    expected = [d if isinstance(d, int) else None for d in sess.get_inputs()[0].shape]
    if expected[1:] and list(x.shape[1:]) != expected[1:]:
        raise ExportError(
            f"shape mismatch: ONNX model expects input {expected}, got images {list(x.shape)}"
        )
    outs = [sess.run(None, {name: x[i : i + batch]})[0] for i in range(0, len(x), batch)]
    return np.concatenate(outs)


def check_parity(onnx_path: str | Path, model, images_u8: np.ndarray,
                 tolerance: float = 1e-3, min_agreement: float = 0.999) -> ParityResult:
    """Compare onnxruntime and PyTorch logits on uint8 NCHW images (as x/255)."""
    import torch

    x = images_u8.astype(np.float32) / 255.0
    model = prepare_model(model)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    got = run_onnx(onnx_path, x)
    result = ParityResult(
        num_images=len(x),
        max_abs_diff=float(np.abs(ref - got).max()) if len(x) else 0.0,
        top1_agreement=float((ref.argmax(1) == got.argmax(1)).mean()) if len(x) else 1.0,
        tolerance=tolerance,
        min_agreement=min_agreement,
    )
    if not result.ok:
        raise ExportError(
            f"ONNX parity check failed on {result.num_images} images: max |diff| "
            f"{result.max_abs_diff:.3g} (tolerance {tolerance}), top-1 agreement "
            f"{result.top1_agreement:.4f} (minimum {min_agreement})"
        )
    return result
