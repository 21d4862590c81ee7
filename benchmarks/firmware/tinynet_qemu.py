"""On-device benchmark matrix: int8 .tflite models x weight formats x QEMU boards -> one JSON.

Every cell is a `tinydeploy.firmware.trials:qemu_benchmark` trial run through the resumable
sweep runner (an interrupted matrix picks up where it stopped): read the .tflite into the IR,
generate the C model in the format, embed N MNIST test images with labels and expected int8
outputs, build, run under QEMU with -icount shift=0 and collect instructions (total and per
layer), accuracy, output mismatches, flash (code / weights / other) and peak RAM.

`--full-board/--full-models` add full-test-set runs (default all 10,000 images) whose expected
outputs come from TFLite Micro itself: the firmware then checks every output byte on-device
against TFLM's.

    python benchmarks/firmware/tinynet_qemu.py \\
        --model 0=runs/fwbench/s0/model_int8.tflite \\
        --model 90=runs/fwbench/s90/model_int8.tflite ... \\
        --formats dense,csr,nm,auto --boards qemu-m3,qemu-m4,qemu-m7,qemu-m33,qemu-m55 \\
        --samples 20 --full-models 0,90 --full-board qemu-m4
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
from pathlib import Path

from tinydeploy.rundir import file_hash, git_revision, write_json_atomic, write_text_atomic
from tinydeploy.sweep import LocalExecutor, Trial, run_sweep

FN = "tinydeploy.firmware.trials:qemu_benchmark"
RESULTS = Path(__file__).resolve().parents[1] / "results" / "firmware_matrix.json"


def parse_models(specs: list[str], default_formats: str) -> dict[str, tuple[str, list[str]]]:
    """NAME=PATH[@fmt,fmt...] -> {name: (path, formats)}; formats default to --formats."""
    models = {}
    for spec in specs:
        name, sep, rest = spec.partition("=")
        path, _, fmts = rest.partition("@")
        if not sep or not name or not path:
            raise SystemExit(f"error: --model wants NAME=PATH[@formats], got {spec!r}")
        if not Path(path).is_file():
            raise SystemExit(f"error: model file not found: {path}")
        models[name] = (path, (fmts or default_formats).split(","))
    return models


def build_trials(args: argparse.Namespace) -> list[tuple[str, str, Trial]]:
    """(kind, model name, trial); the name stays out of the trial parameters (the same
    model under another name is the same trial)."""
    models = parse_models(args.model, args.formats)
    common = {"data_dir": args.data_dir} if args.data_dir else {}
    trials = []

    digests = {name: file_hash(Path(path)) for name, (path, _) in models.items()}

    def add(kind: str, name: str, fmt: str, board: str, samples: int, expected: str) -> None:
        tflite = models[name][0]
        params = {**common, "tflite": tflite, "tflite_sha256": digests[name],
                  "format": fmt, "board": board, "samples": samples, "expected_from": expected}
        key = f"{kind}/{name}/{fmt}/{board}/{samples}"
        params["work_dir"] = str(args.work / key.replace("/", "_"))
        trials.append((kind, name, Trial(FN, params)))

    for name, (_, formats) in models.items():
        for fmt in formats:
            for board in args.boards.split(","):
                add("matrix", name, fmt, board, args.samples, "reference")
    for name in filter(None, args.full_models.split(",")):
        for fmt in models[name][1]:
            add("full", name, fmt, args.full_board, args.full_samples, "tflm")
    return trials


def row(kind: str, name: str, trial: Trial, record: dict) -> dict:
    p = trial.params
    out = {"kind": kind, "model_name": name, "model": p["tflite"], "format": p["format"],
           "board": p["board"], "samples": p["samples"], "status": record.get("status")}
    if record.get("status") == "ok":
        out.update(record["result"])
    else:
        out["error"] = record.get("error")
    return out


def markdown(rows: list[dict]) -> str:
    """One line per cell: what a reader compares across cores, formats and sparsities."""
    lines = ["| kind | model | format | board | images | instructions / inference | "
             "bit-exact | device top-1 % | flash code / weights / other / total B | "
             "peak RAM B (act. + stack) |", "|---|---|---|---|---:|---:|---|---:|---|---:|"]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['kind']} | {r['model_name']} | {r['format']} | {r['board']} | "
                         f"{r['samples']} | failed: {r.get('error', '')[:80]} | | | | |")
            continue
        f = r["flash"]
        lines.append(
            f"| {r['kind']} | {r['model_name']} | {r['format']} | {r['board']} | {r['images']} "
            f"| {r['per_inference']:,.0f} | {'yes' if r['bit_exact'] else 'NO'} | "
            f"{r['device_top1']} | {f['code']:,} / {f['weights']:,} / {f['other']:,} / "
            f"{f['total']:,} | {r['ram']['peak_model']:,} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", required=True,
                    help="NAME=path.tflite[@formats] (repeat), e.g. "
                         "90=runs/fwbench/s90/model_int8.tflite@dense,csr,auto")
    ap.add_argument("--formats", default="dense,csr,nm,auto")
    ap.add_argument("--boards", default="qemu-m3,qemu-m4,qemu-m7,qemu-m33,qemu-m55")
    ap.add_argument("--samples", type=int, default=20, help="images per matrix cell")
    ap.add_argument("--full-models", default="", help="model NAMEs run on the full test set")
    ap.add_argument("--full-board", default="qemu-m4")
    ap.add_argument("--full-samples", type=int, default=10000)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--work", type=Path, default=Path("build/firmware-bench"))
    ap.add_argument("--sweep-dir", default="runs/sweeps/firmware-matrix")
    ap.add_argument("--retries", type=int, default=1)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    trials = build_trials(args)
    with LocalExecutor(0) as ex:  # builds and QEMU already use the cores; one cell at a time
        summary = run_sweep([t for _, _, t in trials], args.sweep_dir, executor=ex,
                            retries=args.retries, log=print, description="firmware matrix")
    rows = [row(kind, name, t, summary.records.get(t.id, {})) for kind, name, t in trials]
    write_json_atomic(args.out, {
        "benchmark": "TinyNet firmware matrix on QEMU (instructions retired, -icount shift=0)",
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "git_revision": git_revision(),
        "machine": {"python": platform.python_version(), "host": platform.machine()},
        "note": "matrix rows: first --samples test images, expected outputs from the reference "
                "executor; full rows: the whole test set, expected outputs from TFLite Micro "
                "(reference_equals_tflm records that both agree). peak_model = activations "
                "(arena + output buffer) + stack high-water mark.",
        "rows": rows,
    })
    write_text_atomic(args.out.with_suffix(".md"), markdown(rows))
    print(summary.line())
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
