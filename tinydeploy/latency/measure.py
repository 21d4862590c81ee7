"""Measure one cost point: a layer shape x weight format x sparsity on a QEMU board.

`measure_point` is a sweep trial (`tinydeploy.latency.measure:measure_point`): its
parameters are pure content (shape, format, sparsity, board, optimisation level and the
fingerprint of the toolchain and kernel sources), so the sweep runner's trial id is the
content hash the cost table is cached under, and a Ray cluster can fill a table in parallel.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from tinydeploy.errors import FirmwareError
from tinydeploy.latency.shapes import LayerShape, synthetic_graph
from tinydeploy.latency.sparsify import sparsify
from tinydeploy.resources import firmware_dir

LAYER = "layer"  # the op name of the measured layer in its synthetic graph


@cache
def fingerprint(opt: str = "O2") -> str:
    """Hash of everything a measured count depends on besides the point itself: the
    firmware sources (harness, kernels, platform, build scripts), the cross compiler's
    version and the optimisation level. A change to any of them re-measures."""
    h = hashlib.sha256()
    root = firmware_dir()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".md"):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    gcc = shutil.which("arm-none-eabi-gcc")
    version = subprocess.run([gcc, "--version"], capture_output=True, text=True).stdout \
        if gcc else "no arm-none-eabi-gcc"
    h.update(version.splitlines()[0].encode() if version else b"")
    h.update(opt.encode())
    return h.hexdigest()[:16]


def save_params(params: dict[str, np.ndarray], folder: Path) -> dict[str, str]:
    """Store a layer's parameters content-addressed; returns the reference a point holds."""
    import io

    buf = io.BytesIO()
    np.savez(buf, **{k: params[k] for k in sorted(params)})
    data = buf.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    path = folder / "layers" / f"{digest[:24]}.npz"
    if not path.is_file():
        from tinydeploy.rundir import write_bytes_atomic

        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, data)
    return {"path": str(path), "sha256": digest}


def load_params(ref: dict[str, str]) -> dict[str, np.ndarray]:
    data = Path(ref["path"]).read_bytes()
    if hashlib.sha256(data).hexdigest() != ref["sha256"]:
        raise FirmwareError(f"layer parameters {ref['path']} changed since the point was "
                            "planned")
    import io

    with np.load(io.BytesIO(data)) as z:
        return {k: z[k] for k in z.files}


def run_generated(gen, board_name: str, opt: str = "O2") -> dict[str, Any]:
    """Build and run a generated model (its golden input) on a QEMU board in a temporary work
    directory; returns the benchmark report, with `per_layer_counts` {op name: count} added
    (a fused conv+pool layer is counted under the conv's name)."""
    from tinydeploy.firmware.bench import plan, run_plan
    from tinydeploy.firmware.boards import get_board
    from tinydeploy.firmware.build import BuildSettings

    board = get_board(board_name)
    if not board.is_qemu:
        raise FirmwareError(f"cost measurements run on QEMU boards, not {board.name}")
    settings = BuildSettings(opt=opt)
    with tempfile.TemporaryDirectory(prefix="td-measure-") as tmp:
        model = Path(tmp) / "model"
        model.mkdir()
        for name, text in gen.files.items():
            (model / name).write_text(text)
        report = run_plan(plan(board, model, Path(tmp) / "fw", settings=settings), settings)
    if report["status"] != "ok":
        raise FirmwareError(f"the firmware reported {report['status']}")
    unit = report["measured"]["unit"]
    report["per_layer_counts"] = {r["name"].split("+")[0]: r[f"{unit}_mean"]
                                  for r in report["measured"]["per_layer"]}
    return report


def measure_point(p: dict[str, Any]) -> dict[str, Any]:
    """params: shape (LayerShape.key()), format, sparsity, board, opt, fingerprint, and
    optionally layer = {"path": .npz of the real layer's int8 parameters, "sha256": its
    digest} (otherwise the layer is synthetic). Returns the layer's instructions (QEMU,
    -icount shift=0), its weight bytes and the tdnn functions it linked (name: bytes)."""
    from tinydeploy.codegen.generator import generate_c

    shape = LayerShape.from_key(dict(p["shape"]))
    if p["fingerprint"] != fingerprint(p["opt"]):
        raise FirmwareError("the kernel sources or toolchain changed since this table was "
                            "planned; rebuild the table")
    graph = synthetic_graph(shape, LAYER, load_params(p["layer"]) if p.get("layer") else None)
    op = graph.ops[0]
    w2d = sparsify(op.weights.reshape(op.weights.shape[0], -1), p["format"], p["sparsity"])
    op.weights = w2d.reshape(op.weights.shape)
    gen = generate_c(graph, "dense", golden_input=np.zeros(graph.input_tensor.shape[1:],
                     np.int8), layer_formats={LAYER: p["format"]},
                     provenance=f"cost point {shape.label()} {p['format']} {p['sparsity']}")
    report = run_generated(gen, p["board"], p["opt"])
    return {
        "instructions": report["per_layer_counts"][LAYER],
        "unit": report["measured"]["unit"],
        "nnz": int(np.count_nonzero(w2d)),
        "weight_bytes": report["flash_bytes"]["weights"],
        "kernel_text": report["kernel_text_bytes"],
        "stack_high_water": report["ram_bytes"]["stack_high_water"],
    }
