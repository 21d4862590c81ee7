"""The on-device benchmark: budget check, chunked builds, runs (QEMU or a board), JSON report.

One call does everything `tinydeploy firmware run` and `tinydeploy bench` need:
measure the model and refuse it when it cannot fit the board; plan the test images into
chunks that fit next to it (measuring the real firmware first when flash is what limits
them); for each chunk generate test_data.c, build, run (QEMU through `-serial pty`, or a
board flashed by `tinydeploy.firmware.flash` and read over its serial port), parse the
report; merge the chunks, in the unit of the counter they used; add flash/RAM measured from
the ELF.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinydeploy.errors import FirmwareError
from tinydeploy.firmware import counter
from tinydeploy.firmware.boards import BoardProfile
from tinydeploy.firmware.budget import (
    ModelFootprint,
    check_budget,
    measure_model,
    samples_next_to,
    samples_per_chunk,
)
from tinydeploy.firmware.build import BuildSettings, build_dir, elf_path, pio_run
from tinydeploy.firmware.elfsize import ImageSize, image_size
from tinydeploy.firmware.project import env_is_local
from tinydeploy.firmware.report import ChunkReport, merge_chunks, parse_report
from tinydeploy.firmware.requirements import require_qemu
from tinydeploy.firmware.stackbound import core_has_fpu, stack_bound
from tinydeploy.firmware.testdata import (
    TestVectors,
    load_vectors,
    plan_chunks,
    write_test_data,
)
from tinydeploy.rundir import write_json_atomic, write_text_atomic

if TYPE_CHECKING:
    from tinydeploy.firmware.flash import Uploader

DEFAULT_CHUNK_CAP = 5000


@dataclass
class BenchPlan:
    board: BoardProfile
    model_dir: Path
    work_dir: Path
    footprint: ModelFootprint
    vectors: TestVectors | None
    chunks: list[tuple[int, int]] = field(default_factory=list)  # (offset, count)


def plan(
    board: BoardProfile,
    model_dir: Path,
    work_dir: Path,
    *,
    samples: int | None = None,
    settings: BuildSettings | None = None,
    vectors: TestVectors | None = None,
    chunk_cap: int = DEFAULT_CHUNK_CAP,
) -> BenchPlan:
    """Budget check (before any build) and chunk plan; when flash is what limits the chunks,
    one build without test images measures the firmware first."""
    settings = settings or BuildSettings()
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise FirmwareError(f"model directory {model_dir} does not exist")
    fp = measure_model(model_dir, board, settings.opt)
    check_budget(fp, board)
    vectors = vectors if vectors is not None else load_vectors(model_dir)
    bp = BenchPlan(board, model_dir, Path(work_dir), fp, vectors)
    if vectors is None:
        if samples not in (None, 1):
            raise FirmwareError(
                f"{model_dir} has no test_vectors.npz: only the golden vector can be run "
                "(omit --samples)"
            )
        bp.chunks = [(0, 1)]
        return bp
    in_bytes = vectors.inputs.shape[1] * vectors.inputs.itemsize
    out_bytes = vectors.expected.shape[1] * vectors.expected.itemsize
    if in_bytes != fp.input_size or out_bytes != fp.output_size:
        raise FirmwareError(
            f"test vectors have {in_bytes} input/{out_bytes} output bytes per image "
            f"({vectors.inputs.dtype}/{vectors.expected.dtype}) but the model has "
            f"{fp.input_size}/{fp.output_size}"
        )
    n = len(vectors) if samples is None else min(samples, len(vectors))
    if n < 1:
        raise FirmwareError("--samples must be at least 1")
    per = samples_per_chunk(fp, board, vectors.bytes_per_sample(), chunk_cap)
    if per < min(n, chunk_cap):
        # flash limits the chunks and the estimate leaves out the kernels and libc: build the
        # firmware without test images once and fill what it really leaves
        used = build_chunk(bp, None, settings)[1].flash["total"]
        per = samples_next_to(used, board, vectors.bytes_per_sample(), chunk_cap)
    if per < 1:
        raise FirmwareError(f"no room for a single test image next to the model in the "
                            f"{board.flash_bytes} bytes of flash of {board.name}")
    bp.chunks = plan_chunks(n, per)
    return bp


def build_chunk(bp: BenchPlan, index: int | None, settings: BuildSettings,
                targets: list[str] | None = None) -> tuple[Path, ImageSize]:
    """Build chunk `index` of the plan (None: the golden vector only, no test images)."""
    gen_dir = None
    if bp.vectors is not None and index is not None:
        offset, count = bp.chunks[index]
        gen_dir = bp.work_dir / "gen"
        write_test_data(gen_dir, bp.vectors.select(offset, count), offset)
    elf = pio_run(bp.board, bp.model_dir, bp.work_dir, gen_dir=gen_dir, settings=settings,
                  targets=targets)
    return elf, image_size(elf)


def default_timeout(count: int) -> float:
    return 120.0 + 0.1 * count


def run_plan(
    bp: BenchPlan,
    settings: BuildSettings,
    *,
    port: str | None = None,
    flash: bool = True,
    uploader: str | None = None,
    timeout: float | None = None,
    silence_timeout: float = 30.0,
    echo: Callable[[str], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Build and run every chunk; returns the benchmark report (also written to work_dir)."""
    if bp.board.is_qemu:  # before any build: a missing QEMU is named, not found after minutes
        require_qemu(bp.board.name)
    elif not port:
        raise FirmwareError(f"{bp.board.name} is a real board: pass --port (e.g. /dev/ttyACM0)")
    elif not flash and len(bp.chunks) > 1:
        raise FirmwareError(f"--no-flash runs what the board holds, one chunk, but these "
                            f"images need {len(bp.chunks)}: pass fewer --samples or let "
                            "tinydeploy flash each chunk")
    flasher = None
    if not bp.board.is_qemu and flash and env_is_local(bp.board.pio_env):
        from tinydeploy.firmware.flash import find_uploader

        flasher = find_uploader(bp.board, uploader)  # a missing uploader is named up front
    reports: list[ChunkReport] = []
    size: ImageSize | None = None
    t_start = time.monotonic()
    for i, (offset, count) in enumerate(bp.chunks):
        if progress:
            progress(f"chunk {i + 1}/{len(bp.chunks)}: images {offset}..{offset + count - 1}")
        limit = timeout or default_timeout(count)
        if bp.board.is_qemu:
            from tinydeploy.firmware.qemu import run_qemu

            elf, size = build_chunk(bp, i, settings)
            lines = run_qemu(bp.board, elf, timeout=limit, silence_timeout=silence_timeout,
                             echo=echo).lines
        else:
            assert port is not None
            lines, size = _run_on_board(bp, i, settings, port, flash, flasher, limit,
                                        silence_timeout, echo, progress)
        write_text_atomic(bp.work_dir / f"uart-chunk{i}.log", "\n".join(lines) + "\n")
        rep = parse_report(lines)
        if not rep.complete:
            raise FirmwareError(f"chunk {i}: the report has no TD:END line (log kept in "
                                f"{bp.work_dir / f'uart-chunk{i}.log'})")
        if rep.status == "invoke_error":
            raise FirmwareError(f"tdm_invoke failed on the device: {rep.errors}")
        reports.append(rep)
    assert size is not None
    report = make_report(bp, settings, reports, size)
    report["wall_seconds"] = round(time.monotonic() - t_start, 2)
    write_json_atomic(bp.work_dir / "bench.json", report)
    return report


def _run_on_board(bp: BenchPlan, i: int, settings: BuildSettings, port: str, flash: bool,
                  flasher: tuple[Uploader, str] | None, timeout: float, silence_timeout: float,
                  echo: Callable[[str], None] | None,
                  progress: Callable[[str], None] | None) -> tuple[list[str], ImageSize]:
    """Build chunk i, flash it (an uploader, or PlatformIO for an official-platform env),
    then read the report from `port`."""
    from tinydeploy.firmware.serialio import open_port, read_report

    official_upload = flash and flasher is None
    elf, size = build_chunk(bp, i, settings, targets=["upload"] if official_upload else None)
    if flasher is not None:
        from tinydeploy.firmware.flash import flash_image

        done = flash_image(bp.board, elf, bp.work_dir, *flasher)
        if progress:
            progress(f"flashed {done.image_bytes} bytes with {done.uploader}, read back and "
                     "verified")
    ser = open_port(port, bp.board.serial_baud)
    try:  # the firmware waits (at most 10 s) for the start byte before it reports
        cap = read_report(ser, timeout=timeout, silence_timeout=silence_timeout, echo=echo,
                          ack=False, start=b"S")
    finally:
        ser.close()
    return cap.lines, size


def make_report(bp: BenchPlan, settings: BuildSettings, reports: list[ChunkReport],
                size: ImageSize) -> dict[str, Any]:
    board = bp.board
    used = counter.resolve(board, [r.begin.get("counter", "") for r in reports])
    measured = merge_chunks(reports, used.counts_per_tick, used.unit)
    first = reports[0].begin
    measured["counter"] = {**used.describe(), "firmware_counter_hz": _int(first, "counter_hz"),
                           "clock": first.get("clock"), "dwt": first.get("dwt")}
    arena = size.symbols.get("td_arena", 0)
    output = size.symbols.get("td_output", 0)
    hwm = measured["stack"]["high_water_bytes"]
    bound = stack_bound(build_dir(bp.work_dir), core_has_fpu(board.core),
                        elf_path(bp.work_dir, board))
    plan_peak = arena + output + bound.bytes if bound.bytes is not None else None
    return {
        "board": {
            "name": board.name, "core": board.core, "clock_hz": board.clock_hz,
            "counter": board.counter, "qemu_machine": board.qemu_machine,
            "flash_bytes": board.flash_bytes, "ram_bytes": board.ram_bytes,
        },
        "model_dir": str(bp.model_dir),
        "build": {"opt": settings.opt, "kernels": settings.kernels},
        "chunks": [{"offset": o, "count": c} for o, c in bp.chunks],
        "measured": measured,
        "flash_bytes": {**size.flash, "test_data_excluded": size.test_data_bytes},
        "kernel_text_bytes": size.kernel_text,
        "ram_bytes": {
            "activations": arena + output,  # td_arena + td_output (static)
            "static_total": size.ram_static,  # all .data + .bss of the firmware
            "stack_high_water": hwm,
            "peak": size.ram_static + hwm,
            "peak_model": arena + output + hwm,  # activations + stack
        },
        # what the plan predicts before running: the memory plan's activations + the stack
        # bound from the compiler's call graph; the run must stay within it
        "ram_predicted": {
            "activations": arena + output,
            "stack_bound": bound.to_dict(),
            "peak_model": plan_peak,
            "measured_within": None if plan_peak is None else arena + output + hwm <= plan_peak,
        },
        "estimated": {
            "note": "from the model compiled alone, before building (budget check)",
            "weights_bytes": bp.footprint.weights_bytes,
            "arena_bytes": bp.footprint.arena_size,
        },
        "status": measured["status"],
    }


def _int(fields: dict[str, str], key: str) -> int | None:
    value = fields.get(key, "")
    return int(value) if value.isdigit() else None
