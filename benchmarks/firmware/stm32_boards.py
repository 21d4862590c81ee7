"""TinyNet on the STM32 board profiles: QEMU's STM32 machines run it, the real boards build it.

For each model (.tflite) and weight format, the C model and N MNIST test images (expected
outputs from TFLite Micro itself) are generated once, then per board:
- netduinoplus2 (STM32F405) and stm32vldiscovery (STM32F100, 8 KB SRAM): budget check, then
  every image on QEMU (in as many chunks as the chip's flash needs), bit-exact check on-device;
- nucleo_f446re, nucleo_h743zi, disco_f746ng: budget check and an offline build of the
  deployable firmware (no test images), flash and RAM read from the ELF; not run (no board).
A model that does not fit a board is recorded with the budget check's refusal.

    python benchmarks/firmware/stm32_boards.py \\
        --model dense=runs/stm32-f405/stages/export-.../export/model_int8.tflite@dense \\
        --model sparse90=runs/.../model_int8.tflite@csr,auto --samples 1000
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
import time
from pathlib import Path

from tinydeploy.errors import FirmwareError
from tinydeploy.firmware.bench import build_chunk, plan, run_plan
from tinydeploy.firmware.boards import get_board
from tinydeploy.firmware.build import BuildSettings
from tinydeploy.firmware.fromtflite import model_dir_from_tflite
from tinydeploy.rundir import file_hash, git_revision, write_json_atomic

RESULTS = Path(__file__).resolve().parents[1] / "results" / "stm32_boards.json"
RUN_BOARDS = ["netduinoplus2", "stm32vldiscovery"]
BUILD_BOARDS = ["nucleo_f446re", "nucleo_h743zi", "disco_f746ng"]


def one_board(board_name: str, model_dir: Path, work: Path, run: bool) -> dict:
    board = get_board(board_name)
    settings = BuildSettings()
    row: dict = {"board": board_name, "flash_bytes_board": board.flash_bytes,
                 "ram_bytes_board": board.ram_bytes}
    try:
        bp = plan(board, model_dir, work, settings=settings)
    except FirmwareError as exc:
        return {**row, "status": "does not fit", "refusal": str(exc)}
    row["budget"] = {"flash_bytes": bp.footprint.flash_bytes, "ram_bytes": bp.footprint.ram_bytes}
    if not run:
        _elf, size = build_chunk(bp, None, settings)
        return {**row, "status": "built", "flash": size.flash, "ram_static": size.ram_static,
                "stack_reserved": size.stack_reserved}
    t0 = time.monotonic()
    report = run_plan(bp, settings)
    m = report["measured"]
    unit = m["unit"]
    return {**row, "status": report["status"], "chunks": len(bp.chunks), "images": m["images"],
            "unit": unit, "per_inference": m["per_inference"][f"{unit}_mean"],
            "per_layer": {layer["name"]: layer[f"{unit}_mean"] for layer in m["per_layer"]},
            "bit_exact": m["expected_outputs"]["bit_exact"],
            "mismatch_images": m["expected_outputs"]["mismatch_images"],
            "device_top1": m["accuracy"]["top1"], "flash": report["flash_bytes"],
            "ram": report["ram_bytes"], "counter": m["counter"],
            "seconds": round(time.monotonic() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", required=True,
                    help="NAME=PATH.tflite@fmt[,fmt...] (repeatable)")
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--work", default="runs/stm32-boards")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    rows = []
    for spec in args.model:
        name, _, rest = spec.partition("=")
        path, _, fmts = rest.partition("@")
        for fmt in (fmts or "dense").split(","):
            work = Path(args.work) / f"{name}-{fmt}"
            gen = model_dir_from_tflite(Path(path), work / "model", fmt=fmt,
                                        data_dir=args.data_dir, samples=args.samples,
                                        expected_from="tflm")
            for board in RUN_BOARDS + BUILD_BOARDS:
                row = one_board(board, work / "model", work / board, board in RUN_BOARDS)
                row.update(model=name, format=fmt, tflite_sha256=file_hash(Path(path)),
                           host_int8_top1=round(100 * gen["host_int8_correct"] / gen["samples"],
                                                2),
                           reference_equals_tflm=gen["reference_equals_tflm"])
                rows.append(row)
                print(_line(row), flush=True)
    write_json_atomic(Path(args.out), {
        "command": shlex.join([sys.executable, *sys.argv]), "git_revision": git_revision(),
        "machine": platform.platform(), "samples": args.samples, "rows": rows})
    print(f"wrote {args.out}")
    return 0


def _line(r: dict) -> str:
    head = f"{r['model']:>9} {r['format']:<5} {r['board']:<17}"
    if r["status"] == "does not fit":
        return f"{head} does not fit: {r['refusal']}"
    flash = r["flash"]["total"]
    if r["status"] == "built":
        return (f"{head} built: flash {flash} of {r['flash_bytes_board']} B, static RAM "
                f"{r['ram_static']} B (+ {r['stack_reserved']} B stack) of "
                f"{r['ram_bytes_board']} B")
    return (f"{head} {r['status']}: {r['images']} images in {r['chunks']} chunk(s), "
            f"{r['unit']}/inference {r['per_inference']:,.0f}, bit-exact {r['bit_exact']}, "
            f"top-1 {r['device_top1']}%, flash {flash} B, peak RAM {r['ram']['peak']} B")


if __name__ == "__main__":
    sys.exit(main())
