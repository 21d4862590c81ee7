"""TinyNet on Cortex-M55 (QEMU mps3-an547, Helium/MVE kernels): dense and pruned models in
each weight format, on the MNIST test set, outputs checked on-device against TFLite Micro.

Each row is one `tinydeploy.firmware.trials:qemu_benchmark` run (the same trial the firmware
matrix uses): generate the C model from the int8 .tflite in the format (or per-layer formats),
embed the test images with TFLite Micro's expected int8 outputs (`expected_from=tflm`),
build, run under QEMU with -icount shift=0, and record instructions retired per inference and
per layer, bit-exactness, accuracy, flash and RAM. Writes benchmarks/results/m55_tinynet.json
(+ .md) with the exact command, git revision, compiler/QEMU versions and the load average
(instruction counts do not depend on load; wall time does).

    python benchmarks/firmware/m55.py --dense runs/x/dense/model_int8.tflite \\
        --sparse runs/x/p90/model_int8.tflite --samples 10000

`--sparse-best` gives the per-layer formats of the sparse model's "best" row
(conv1=dense,conv2=csr,...; op names as the generator reports them).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from pathlib import Path

from tinydeploy.firmware.trials import qemu_benchmark
from tinydeploy.rundir import (
    file_hash,
    git_revision,
    tool_version,
    write_json_atomic,
    write_text_atomic,
)

RESULTS = Path(__file__).resolve().parents[1] / "results" / "m55_tinynet.json"
BOARD = "qemu-m55"


def parse_layer_formats(spec: str) -> dict[str, str]:
    out = {}
    for item in filter(None, spec.split(",")):
        name, sep, fmt = item.partition("=")
        if not sep:
            raise SystemExit(f"error: --sparse-best wants op=format,..., got {item!r}")
        out[name] = fmt
    return out


def markdown(rows: list[dict]) -> str:
    lines = ["| model | format | images | instructions / inference | per layer | bit-exact "
             "vs TFLM | device top-1 % | flash total B | peak RAM B |",
             "|---|---|---:|---:|---|---|---:|---:|---:|"]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['model_name']} | {r['format']} | | failed: "
                         f"{str(r.get('error', ''))[:80]} | | | | | |")
            continue
        layers = ", ".join(f"{k} {v:,.0f}" for k, v in r["per_layer"].items())
        lines.append(
            f"| {r['model_name']} | {r['format']} | {r['images']} | {r['per_inference']:,.0f} | "
            f"{layers} | {'yes' if r['bit_exact'] else 'NO'} ({r['mismatch_images']} mismatching "
            f"images) | {r['device_top1']} | {r['flash']['total']:,} | "
            f"{r['ram']['peak_model']:,} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dense", type=Path, required=True, help="dense int8 .tflite")
    ap.add_argument("--sparse", type=Path, default=None, help="pruned int8 .tflite")
    ap.add_argument("--sparse-formats", default="dense,csr,nm")
    ap.add_argument("--sparse-best", default="conv1=dense,conv2=csr,fc1=csr,fc2=csr",
                    help="per-layer formats of the sparse model's 'best' row ('' to skip)")
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--work", type=Path, default=Path("build/m55-bench"))
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    runs: list[tuple[str, Path, str, dict[str, str] | None]] = [
        ("dense", args.dense, "dense", None)]
    if args.sparse is not None:
        runs += [("sparse", args.sparse, fmt, None) for fmt in args.sparse_formats.split(",")]
        best = parse_layer_formats(args.sparse_best)
        if best:
            runs.append(("sparse", args.sparse, "best", best))
    load_before = os.getloadavg()
    revision = git_revision()  # at the start: the sources the firmware is built from
    started = time.time()
    rows = []
    for name, path, fmt, layer_formats in runs:
        params = {"tflite": str(path), "format": "dense" if fmt == "best" else fmt,
                  "board": BOARD, "samples": args.samples, "expected_from": "tflm",
                  "work_dir": str(args.work / f"{name}_{fmt}")}
        if layer_formats:
            params["layer_formats"] = layer_formats
        if args.data_dir:
            params["data_dir"] = args.data_dir
        t0 = time.time()
        row = {"model_name": name, "model": str(path), "model_sha256": file_hash(path),
               "format": fmt, "layer_formats": layer_formats, "samples": args.samples}
        try:
            row.update(qemu_benchmark(params))
            row["status"] = "ok"
        except Exception as exc:  # a failed cell is reported, the others still run
            row.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        row["wall_seconds"] = round(time.time() - t0, 1)
        print(f"{name}/{fmt}: {row.get('per_inference', row.get('error'))}", flush=True)
        rows.append(row)
    write_json_atomic(args.out, {
        "benchmark": "TinyNet on Cortex-M55 (QEMU mps3-an547, Helium/MVE kernels), "
                     "instructions retired (-icount shift=0, SysTick at 32 MHz)",
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "git_revision": revision,
        "board": BOARD,
        "compiler": tool_version(["arm-none-eabi-gcc", "--version"]),
        "qemu": tool_version(["qemu-system-arm", "--version"]),
        "machine": {"python": platform.python_version(), "host": platform.machine(),
                    "cpus": os.cpu_count()},
        "load_average": {"before": [round(v, 2) for v in load_before],
                         "after": [round(v, 2) for v in os.getloadavg()]},
        "wall_seconds": round(time.time() - started, 1),
        "note": "expected outputs from TFLite Micro (host tflite-micro) for every image; "
                "bit_exact means every output byte of every image matched on the device. "
                "Instruction counts are per inference (mean over the images; the kernels "
                "are data-independent except for the requantisation's clamps). 'best' = the "
                "per-layer formats in layer_formats.",
        "rows": rows,
    })
    write_text_atomic(args.out.with_suffix(".md"), markdown(rows))
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")
    return 0 if all(r["status"] == "ok" and r.get("bit_exact") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
