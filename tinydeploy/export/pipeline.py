"""`tinydeploy export` as a library function: checkpoint -> ONNX -> int8 TFLite -> C.

Everything is built inside a temporary directory that replaces `out` only on success
(`tinydeploy.rundir.atomic_directory`), so a failed export leaves no partial output.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinydeploy.errors import ExportError
from tinydeploy.rundir import atomic_directory, git_revision

TARGETS = ("onnx", "tflite", "c")


@dataclass
class ExportConfig:
    to: str = "c"
    sparse: str = "auto"
    calib_images: int = 500
    parity_images: int = 1000
    eval_limit: int | None = None  # None: the whole test set
    parity_tolerance: float = 1e-3
    objective: str = "bytes"


@dataclass
class ExportResult:
    out: Path
    report: dict[str, Any] = field(default_factory=dict)


def _log_default(msg: str) -> None:
    print(msg, flush=True)


def export(*, out: str | Path, cfg: ExportConfig, checkpoint: str | Path | None = None,
           onnx_path: str | Path | None = None, tflite_path: str | Path | None = None,
           dataset: str | None = None, data_dir: str | Path | None = None,
           force: bool = False, log=_log_default) -> ExportResult:
    """Run the export steps up to `cfg.to` from exactly one source (checkpoint, .onnx, .tflite)."""
    from tinydeploy.codegen.select import validate_mode

    if cfg.to not in TARGETS:
        from tinydeploy.errors import unknown_choice

        raise unknown_choice("export target", cfg.to, TARGETS)
    validate_mode(cfg.sparse)
    sources = [s for s in (checkpoint, onnx_path, tflite_path) if s is not None]
    if len(sources) != 1:
        raise ExportError("give exactly one of --checkpoint, --onnx or --tflite")
    if tflite_path is not None and cfg.to != "c":
        raise ExportError("a .tflite source can only be exported --to c")
    if onnx_path is not None and cfg.to == "onnx":
        raise ExportError("an .onnx source can only be exported --to tflite or c")
    if cfg.calib_images < 1:
        raise ExportError("--calib-images must be >= 1")

    model, meta = None, {}
    if checkpoint is not None:
        from tinydeploy.checkpoint import load_checkpoint

        model, meta = load_checkpoint(checkpoint)
        dataset = dataset or meta.get("dataset")
    # Validate the inputs before the (slow) work and before touching `out`.
    if onnx_path is not None:
        from tinydeploy.export.onnx_export import check_onnx_ops, load_onnx

        check_onnx_ops(load_onnx(onnx_path))
    graph_src = None
    if tflite_path is not None:
        from tinydeploy.ir import read_tflite

        graph_src = read_tflite(tflite_path)
    ds = None
    if dataset is not None:
        from tinydeploy.data import load_dataset

        ds = load_dataset(dataset, data_dir)
    elif tflite_path is None:
        raise ExportError("--dataset is needed for calibration when exporting from an .onnx file")

    report: dict[str, Any] = {
        "source": {"checkpoint": str(checkpoint) if checkpoint else None,
                   "onnx": str(onnx_path) if onnx_path else None,
                   "tflite": str(tflite_path) if tflite_path else None},
        "dataset": dataset, "config": cfg.__dict__.copy(), "git_revision": git_revision(),
    }
    started = time.time()
    with atomic_directory(out, force=force) as tmp:
        tflite_bytes = None
        if model is not None:
            _onnx_step(model, meta, ds, cfg, tmp, report, log)
            onnx_path = tmp / "model.onnx"
        if cfg.to in ("tflite", "c") and tflite_path is None:
            tflite_bytes = _tflite_step(onnx_path, model, ds, cfg, tmp, report, log, meta)
        if cfg.to == "c":
            if tflite_bytes is None:
                tflite_bytes = Path(tflite_path).read_bytes()
            _c_step(tflite_bytes, graph_src, ds, cfg, tmp, report, log, meta)
        report["seconds"] = round(time.time() - started, 1)
        (tmp / "export_report.json").write_text(json.dumps(report, indent=2, default=_json) + "\n")
        (tmp / "export_report.md").write_text(report_markdown(report))
    return ExportResult(Path(out), report)


def _json(obj):
    if isinstance(obj, np.integer | np.floating):
        return obj.item()
    return str(obj)


def _onnx_step(model, meta, ds, cfg: ExportConfig, tmp: Path, report, log) -> None:
    import torch

    from tinydeploy.export.onnx_export import check_parity, export_onnx, prepare_model

    shape = tuple(meta.get("model", {}).get("input_shape") or ds.input_shape)
    if ds is not None and tuple(ds.input_shape) != shape:
        raise ExportError(f"shape mismatch: model expects input {list(shape)}, dataset "
                          f"{ds.name} has images {list(ds.input_shape)}")
    log(f"ONNX: exporting (opset 17, input {list(shape)})")
    model = prepare_model(model)
    export_onnx(model, shape, tmp / "model.onnx")
    parity = check_parity(tmp / "model.onnx", model, ds.test_images[: cfg.parity_images],
                          tolerance=cfg.parity_tolerance)
    log(f"ONNX parity on {parity.num_images} test images: max |diff| "
        f"{parity.max_abs_diff:.2e}, top-1 agreement {100 * parity.top1_agreement:.2f}%")
    report["onnx"] = {"file": "model.onnx", "opset": 17, "parity": parity.to_dict()}
    n = len(ds.test_images) if cfg.eval_limit is None else cfg.eval_limit
    x = torch.from_numpy(ds.test_images[:n].astype(np.float32) / 255.0)
    with torch.no_grad():
        logits = torch.cat([model(x[i : i + 1000]) for i in range(0, len(x), 1000)])
    report["float_top1"] = float((logits.argmax(1).numpy() == ds.test_labels[:n]).mean() * 100)


def _qat_calibration_images(meta: dict[str, Any]) -> int | None:
    """How many calibration images a pruned checkpoint's QAT phase measured its activation
    ranges on (None: no QAT phase, or one recorded before the count was)."""
    rounds = (meta.get("prune") or {}).get("rounds") or []
    counts = [r.get("calibration_images") for r in rounds if r.get("phase") == "qat"]
    return counts[-1] if counts else None


def _tflite_step(onnx_path, model, ds, cfg: ExportConfig, tmp: Path, report, log,
                 meta: dict[str, Any] | None = None) -> bytes:
    from tinydeploy.export.runtimes import (
        quantize_images,
        run_litert,
        run_tflm,
        top1,
        zeros_per_layer,
    )
    from tinydeploy.export.tflite_export import onnx_to_int8_tflite
    from tinydeploy.ir import read_tflite
    from tinydeploy.ir.reference import run as run_reference

    log(f"TFLite: onnx2tf full-integer int8, per-channel, {cfg.calib_images} calibration images")
    calib = ds.train_images[: cfg.calib_images]
    qat_images = _qat_calibration_images(meta or {})
    if qat_images is not None and qat_images != len(calib):
        warning = (f"the checkpoint was QAT fine-tuned at the activation ranges of the first "
                   f"{qat_images} training images, this export calibrates on {len(calib)}: "
                   f"its int8 model may lose more against float (--calib-images {qat_images} "
                   f"matches them)")
        log(f"warning: {warning}")
        report.setdefault("warnings", []).append(warning)
    path = onnx_to_int8_tflite(onnx_path, tmp / "model_int8.tflite", calib,
                               log_path=tmp / "onnx2tf.log")
    data = path.read_bytes()
    graph = read_tflite(data)
    n = len(ds.test_images) if cfg.eval_limit is None else cfg.eval_limit
    x = quantize_images(ds.test_images[:n], graph.input_tensor.scale,
                        graph.input_tensor.zero_point)
    labels = ds.test_labels[:n]
    log(f"int8 accuracy on {n} test images (LiteRT, TFLite Micro, reference executor)")
    out_litert = run_litert(data, x)
    out_tflm = run_tflm(data, x)
    out_ref = run_reference(graph, x)
    mismatch = int((out_ref.reshape(n, -1) != out_tflm.reshape(n, -1)).any(1).sum())
    tfl = {
        "file": "model_int8.tflite", "bytes": len(data), "calibration_images": len(calib),
        "ops": [op.kind for op in graph.ops], "eval_images": n,
        "litert_top1": top1(out_litert, labels), "tflm_top1": top1(out_tflm, labels),
        "reference_top1": top1(out_ref, labels),
        "reference_vs_tflm_mismatched_images": mismatch,
    }
    if "float_top1" in report:
        tfl["int8_loss_points_tflm"] = report["float_top1"] - tfl["tflm_top1"]
        tfl["int8_loss_points_litert"] = report["float_top1"] - tfl["litert_top1"]
    if model is not None:
        from tinydeploy.export.onnx_export import prepare_model

        tfl["zeros"] = zeros_per_layer(prepare_model(model), graph)
        lost = [z["layer"] for z in tfl["zeros"] if z.get("survived") is False]
        if lost:
            raise ExportError(f"exact zeros did not survive int8 export in {', '.join(lost)}")
    log(f"int8 top-1: LiteRT {tfl['litert_top1']:.2f}%, TFLM {tfl['tflm_top1']:.2f}%; "
        f"reference vs TFLM: {mismatch} mismatching images")
    if mismatch:
        raise ExportError(f"reference executor differs from TFLite Micro on {mismatch} of {n} "
                          "images (please report this as a bug)")
    report["tflite"] = tfl
    return data


def _c_step(tflite_bytes: bytes, graph, ds, cfg: ExportConfig, tmp: Path, report, log,
            meta: dict[str, Any] | None = None) -> None:
    """model.h / model.c; a latency-aware checkpoint's layers get the formats its allocation
    chose (`meta["latency"]`)."""
    from tinydeploy.codegen.generator import generate_c, provenance_line
    from tinydeploy.codegen.generator import report_markdown as c_markdown
    from tinydeploy.codegen.select import CostModel, allocated_formats
    from tinydeploy.export.runtimes import quantize_images
    from tinydeploy.ir import read_tflite

    if graph is None:
        graph = read_tflite(tflite_bytes)
    golden = None
    if ds is not None:
        t = graph.input_tensor
        golden = quantize_images(ds.test_images[:1], t.scale, t.zero_point)[0]
    layer_formats = allocated_formats(meta, graph) if meta else None
    chosen = f" (per layer as allocated: {layer_formats})" if layer_formats else ""
    log(f"C: generating model.h / model.c (--sparse {cfg.sparse}){chosen}")
    gen = generate_c(graph, cfg.sparse, golden, cost_model=CostModel.load(),
                     objective=cfg.objective, layer_formats=layer_formats,
                     provenance=provenance_line(tflite_bytes, cfg.sparse, cfg.objective))
    cdir = tmp / "c"
    cdir.mkdir()
    for name, text in gen.files.items():
        (cdir / name).write_text(text)
    (cdir / "size_report.json").write_text(json.dumps(gen.report, indent=2) + "\n")
    (cdir / "size_report.md").write_text(c_markdown(gen.report))
    report["c"] = {"dir": "c", **{k: v for k, v in gen.report.items() if k != "layers"},
                   "layers": gen.report["layers"]}
    log(f"C: weights {gen.report['total_weight_bytes']} B "
        f"({100 * gen.report['ratio_vs_dense']:.1f}% of dense int8), arena {gen.arena_size} B")


def report_markdown(report: dict[str, Any]) -> str:
    lines = ["# tinydeploy export report", ""]
    src = {k: v for k, v in report["source"].items() if v}
    lines.append(f"Source: {src}; dataset {report.get('dataset')}; "
                 f"target {report['config']['to']}, sparse {report['config']['sparse']}.")
    lines.append("")
    if report.get("warnings"):
        lines += [f"**Warning:** {w}" for w in report["warnings"]] + [""]
    if "onnx" in report:
        p = report["onnx"]["parity"]
        lines += ["## ONNX", "", f"opset 17; onnxruntime vs PyTorch on {p['num_images']} test "
                  f"images: max |diff| {p['max_abs_diff']:.2e}, top-1 agreement "
                  f"{100 * p['top1_agreement']:.2f}%.", ""]
    if "float_top1" in report:
        lines += [f"Float top-1: {report['float_top1']:.2f}%", ""]
    if "tflite" in report:
        t = report["tflite"]
        lines += ["## int8 TFLite", "", f"{t['bytes']} bytes; ops {', '.join(t['ops'])}.",
                  f"Top-1 on {t['eval_images']} test images: LiteRT {t['litert_top1']:.2f}%, "
                  f"TFLite Micro {t['tflm_top1']:.2f}%, reference {t['reference_top1']:.2f}%.",
                  f"Reference executor vs TFLite Micro: "
                  f"{t['reference_vs_tflm_mismatched_images']} mismatching images.", ""]
        if "int8_loss_points_tflm" in t:
            lines += [f"float -> int8 loss: {t['int8_loss_points_tflm']:.2f} points (TFLM).", ""]
        if t.get("zeros"):
            lines += ["| layer | size | float zeros | int8 zeros | zeros survived |",
                      "|---|---:|---:|---:|---|"]
            for z in t["zeros"]:
                lines.append(f"| {z['layer']} | {z['size']} | {z.get('float_zeros', '-')} | "
                             f"{z['int8_zeros']} | {z.get('survived', '-')} |")
            lines.append("")
    if "c" in report:
        from tinydeploy.codegen.generator import report_markdown as c_markdown

        lines.append(c_markdown(report["c"]))
    return "\n".join(lines) + "\n"
