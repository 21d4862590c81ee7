"""Export round trip on MNIST TinyNet: dense and 90%-sparse -> ONNX -> int8 TFLite -> C.

    .venv/bin/python benchmarks/export/roundtrip.py [--checkpoint runs/bench-train/mnist/model]

Sparse models are pruned here by hand (magnitude, masks held fixed during a short
fine-tune) so the benchmark does not depend on the pruning package's state:
  sparse90_global    - 90% of all conv/fc weights removed by one global threshold
  sparse90_layerwise - 90% of every layer's weights removed
Each variant is exported with `tinydeploy.export.pipeline.export` (--to c, --sparse auto)
and evaluated on the whole 10,000-image test set (float, LiteRT, TFLite Micro, reference
executor); the generated C is compiled for the host and compared with the reference on
all 10,000 images. Writes benchmarks/results/export_roundtrip.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from tinydeploy.checkpoint import load_checkpoint, save_checkpoint
from tinydeploy.data import load_dataset
from tinydeploy.export.pipeline import ExportConfig, export
from tinydeploy.rundir import git_revision, write_json_atomic

ROOT = Path(__file__).resolve().parents[2]
RESULT = ROOT / "benchmarks" / "results" / "export_roundtrip.json"


def weighted(model):
    return [m for m in model.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]


def prune_masks(model, sparsity: float, scope: str) -> list[torch.Tensor]:
    layers = weighted(model)
    if scope == "global":
        allw = torch.cat([m.weight.detach().abs().flatten() for m in layers])
        thr = allw.kthvalue(int(sparsity * allw.numel())).values
        return [m.weight.detach().abs() > thr for m in layers]
    masks = []
    for m in layers:
        w = m.weight.detach().abs().flatten()
        masks.append(m.weight.detach().abs() > w.kthvalue(int(sparsity * w.numel())).values)
    return masks


def finetune(model, masks, ds, epochs: int, seed: int = 0):
    """A short masked fine-tune (Adam, lr 1e-3, batch 128, no augmentation)."""
    torch.manual_seed(seed)
    layers = weighted(model)
    with torch.no_grad():
        for m, k in zip(layers, masks, strict=True):
            m.weight.mul_(k)
    x = torch.from_numpy(ds.train_images.astype(np.float32) / 255.0)
    y = torch.from_numpy(ds.train_labels.astype(np.int64))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            idx = perm[i : i + 128]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
            with torch.no_grad():
                for m, k in zip(layers, masks, strict=True):
                    m.weight.mul_(k)
    return model.eval()


def host_check(out_dir: Path, ds, build_dir: Path) -> dict:
    from tinydeploy.codegen.host import build_host_runner, run_host
    from tinydeploy.export.runtimes import quantize_images
    from tinydeploy.ir import read_tflite
    from tinydeploy.ir.reference import run

    g = read_tflite(out_dir / "model_int8.tflite")
    x = quantize_images(ds.test_images, g.input_tensor.scale, g.input_tensor.zero_point)
    t = time.time()
    exe = build_host_runner(out_dir / "c", build_dir)
    got = run_host(exe, x, g.output_tensor.size)
    ref = run(g, x).reshape(len(x), -1)
    return {"images": len(x), "mismatched_images": int((got != ref).any(1).sum()),
            "seconds": round(time.time() - t, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=str(ROOT / "runs/bench-train/mnist/model"))
    shared = ROOT.parent / "shared" / "datasets"
    ap.add_argument("--data-dir", default=str(shared) if shared.is_dir() else None,
                    help="dataset folder (default ../shared/datasets, else $TINYDEPLOY_DATA)")
    ap.add_argument("--out", default=str(ROOT / "runs/bench-export"))
    ap.add_argument("--finetune-epochs", type=int, default=2)
    ap.add_argument("--calib-images", type=int, default=500)
    args = ap.parse_args()
    torch.set_num_threads(2)
    out_root = Path(args.out)
    dense, meta = load_checkpoint(args.checkpoint)
    ds = load_dataset(meta.get("dataset", "mnist"), args.data_dir)
    variants = {"dense": (dense, meta)}
    for scope in ("global", "layerwise"):
        model = copy.deepcopy(dense)
        masks = prune_masks(model, 0.9, scope)
        t = time.time()
        finetune(model, masks, ds, args.finetune_epochs)
        m = {**meta, "kind": f"benchmark sparse90_{scope}",
             "pruning": {"method": "magnitude (by hand in the benchmark)", "scope": scope,
                         "sparsity": 0.9, "finetune_epochs": args.finetune_epochs,
                         "finetune_seconds": round(time.time() - t, 1)}}
        ckpt = save_checkpoint(model, out_root / f"sparse90_{scope}_ckpt" / "model", m)
        variants[f"sparse90_{scope}"] = load_checkpoint(ckpt)

    results = {}
    for name, (_model, m) in variants.items():
        ckpt = args.checkpoint if name == "dense" else \
            out_root / f"{name}_ckpt" / "model"
        t = time.time()
        res = export(out=out_root / name, checkpoint=ckpt, data_dir=args.data_dir, force=True,
                     cfg=ExportConfig(to="c", sparse="auto", calib_images=args.calib_images))
        rep = res.report
        tfl = rep["tflite"]
        c = rep["c"]
        host = host_check(out_root / name, ds, out_root / f"{name}_hostbuild")
        results[name] = {
            "pruning": m.get("pruning"),
            "float_top1": rep["float_top1"], "litert_top1": tfl["litert_top1"],
            "tflm_top1": tfl["tflm_top1"], "reference_top1": tfl["reference_top1"],
            "int8_loss_points_tflm": tfl["int8_loss_points_tflm"],
            "int8_loss_points_litert": tfl["int8_loss_points_litert"],
            "eval_images": tfl["eval_images"],
            "reference_vs_tflm_mismatched_images": tfl["reference_vs_tflm_mismatched_images"],
            "host_c_vs_reference": host,
            "onnx_parity": rep["onnx"]["parity"],
            "tflite_bytes": tfl["bytes"],
            "zeros": tfl["zeros"],
            "c_auto": {
                "per_layer": [{k: r[k] for k in ("layer", "nnz", "density", "chosen",
                                                 "weight_bytes", "dense_bytes",
                                                 "ratio_vs_dense", "bytes_per_format",
                                                 "macs")} for r in c["layers"]],
                "total_weight_bytes": c["total_weight_bytes"],
                "total_dense_bytes": c["total_dense_bytes"],
                "ratio_vs_dense": c["ratio_vs_dense"], "arena_bytes": c["arena_bytes"],
                "executed_layers": c["executed_layers"],
            },
            "seconds": round(time.time() - t, 1),
        }
        print(f"{name}: float {rep['float_top1']:.2f}% tflm {tfl['tflm_top1']:.2f}% "
              f"litert {tfl['litert_top1']:.2f}% ref!=tflm "
              f"{tfl['reference_vs_tflm_mismatched_images']} host!=ref "
              f"{host['mismatched_images']} C bytes {c['total_weight_bytes']}/"
              f"{c['total_dense_bytes']} ({100 * c['ratio_vs_dense']:.2f}%)", flush=True)

    acceptance = {
        "int8_within_0.2_points": {
            k: abs(v["int8_loss_points_tflm"]) <= 0.2 and abs(v["int8_loss_points_litert"]) <= 0.2
            for k, v in results.items()},
        "reference_equals_tflm_all_10000": {
            k: v["reference_vs_tflm_mismatched_images"] == 0 and v["eval_images"] == 10000
            for k, v in results.items()},
        "auto_c_weight_bytes_le_30pct_of_dense": {
            k: v["c_auto"]["ratio_vs_dense"] <= 0.30 for k, v in results.items()
            if k != "dense"},
    }
    write_json_atomic(RESULT, {
        "command": "python benchmarks/export/roundtrip.py",
        "checkpoint": str(args.checkpoint), "git_revision": git_revision(),
        "machine": f"{platform.machine()} {torch.get_num_threads()} threads",
        "note": "bytes/MACs are computed from the arrays (theoretical); accuracies measured "
                "on the full test set; sparse models pruned by hand in this script",
        "results": results, "acceptance": acceptance,
    })
    print(json.dumps(acceptance, indent=2))


if __name__ == "__main__":
    main()
