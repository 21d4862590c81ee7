"""On-device benchmark sweep: int8 .tflite models -> generated C -> QEMU boards -> one JSON.

For every (model, weight format, board): read the .tflite into the IR, generate the C model
(tinydeploy.codegen), embed N MNIST test images with their labels and the expected int8
outputs of the host reference executor (tinydeploy.ir.reference, bit-exact with TFLite
Micro), build, run under QEMU with -icount shift=0 and collect instructions (total and per
layer), accuracy, output mismatches, flash (code / weights / other) and peak RAM.

    python benchmarks/firmware/tinynet_qemu.py --model dense=runs/x/model.tflite \
        --model s90=runs/y/model.tflite --formats dense,csr,nm,auto \
        --boards qemu-m3,qemu-m4,qemu-m7,qemu-m33,qemu-m55 --samples 100 \
        --out benchmarks/firmware/results.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from tinydeploy.errors import TinydeployError
from tinydeploy.rundir import write_json_atomic


def mnist_int8(data_dir: str | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    from tinydeploy.data import load_dataset

    ds = load_dataset("mnist", data_dir)
    images = ds.test_images[:n]  # uint8 NCHW
    x = (images.astype(np.int16) - 128).astype(np.int8).transpose(0, 2, 3, 1).copy()
    return x, np.asarray(ds.test_labels[:n])


def one_run(name, tflite, fmt, board_name, x, labels, work):
    from tinydeploy.codegen import generate_c
    from tinydeploy.firmware.bench import plan, run_plan
    from tinydeploy.firmware.boards import get_board
    from tinydeploy.firmware.build import BuildSettings
    from tinydeploy.firmware.testdata import make_vectors
    from tinydeploy.ir import read_tflite
    from tinydeploy.ir.reference import run

    graph = read_tflite(tflite)
    gen = generate_c(graph, fmt, golden_input=x[0], provenance=f"{name} {fmt}")
    model_dir = work / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    for fname, text in gen.files.items():
        (model_dir / fname).write_text(text)
    expected = run(graph, x).reshape(len(x), -1)
    host_correct = int((np.argmax(expected, axis=1) == labels).sum())
    vectors = make_vectors(x.reshape(len(x), -1), labels, expected, f"mnist test[:{len(x)}]")
    settings = BuildSettings()
    bp = plan(get_board(board_name), model_dir, work / "fw", vectors=vectors)
    report = run_plan(bp, settings)
    report["model"] = {"name": name, "tflite": str(tflite), "format": fmt,
                       "chosen": [r.get("chosen") for r in gen.report.get("layers", [])]}
    report["host_int8_correct"] = host_correct
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", required=True, help="NAME=path.tflite")
    ap.add_argument("--formats", default="dense,csr,nm,auto")
    ap.add_argument("--boards", default="qemu-m3,qemu-m4,qemu-m7,qemu-m33,qemu-m55")
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--work", type=Path, default=Path("build/firmware-bench"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/firmware/results.json"))
    args = ap.parse_args(argv)

    x, labels = mnist_int8(args.data_dir, args.samples)
    results = []
    for spec in args.model:
        name, _, path = spec.partition("=")
        for fmt in args.formats.split(","):
            for board in args.boards.split(","):
                t0 = time.monotonic()
                work = args.work / name / fmt / board
                try:
                    rep = one_run(name, Path(path), fmt, board, x, labels, work)
                except TinydeployError as exc:  # e.g. a format the model does not satisfy
                    rep = {"model": {"name": name, "format": fmt}, "board": {"name": board},
                           "error": str(exc)}
                m = rep.get("measured")
                if m:
                    print(f"{name:>8} {fmt:>6} {board:>9}: "
                          f"{m['per_inference']['instructions_mean']:>10.0f} insns, "
                          f"acc {m['accuracy']['top1']}%, bit-exact "
                          f"{m['expected_outputs']['bit_exact']}, flash "
                          f"{rep['flash_bytes']['total']} B, peak RAM "
                          f"{rep['ram_bytes']['peak_model']} B "
                          f"({time.monotonic() - t0:.0f}s)", flush=True)
                else:
                    print(f"{name:>8} {fmt:>6} {board:>9}: {rep['error']}", flush=True)
                results.append(rep)
    write_json_atomic(args.out, {"samples": args.samples, "results": results})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
