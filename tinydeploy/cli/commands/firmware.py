"""`tinydeploy firmware build|run|boards|setup`, `tinydeploy flash` and `tinydeploy bench`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from tinydeploy.firmware.bench import BenchPlan

BoardOpt = typer.Option(
    "qemu-m4", "--board", "-b", help="Board profile name (see `tinydeploy firmware boards`)."
)


def _use_boards_dir(dirs: list[Path] | None) -> list[Path] | None:
    if dirs:
        from tinydeploy.firmware.boards import use_board_dirs

        use_board_dirs(dirs)
    return dirs


BoardsDirOpt = typer.Option(
    None, "--boards-dir", exists=True, file_okay=False, is_eager=True, callback=_use_boards_dir,
    help="A folder of your own board profiles (*.toml), searched before the built-in ones; "
    "repeatable. Also read from $TINYDEPLOY_BOARDS_DIR (os.pathsep-separated).",
)
ModelDirOpt = typer.Option(
    None, "--model-dir", "-m",
    help="Generated model directory (model.h, model.c; optional test_vectors.npz).",
)
TfliteOpt = typer.Option(
    None, "--tflite",
    help="Instead of --model-dir: an int8 .tflite; the C model and test vectors (dataset "
    "test images + reference outputs) are generated into the work directory.",
)
DatasetOpt = typer.Option("mnist", "--dataset", "-d", help="Test images for --tflite.")
InputsOpt = typer.Option(
    "dataset", "--inputs",
    help="Inputs for --tflite: dataset (the --dataset test images, with their labels), random "
    "(seeded int8 tensors of the model's input shape) or a .npy file (int8, or float values "
    "quantized with the model's input scale). With random or a file the expected outputs "
    "come from TFLite Micro itself and no dataset is needed.",
)
SeedOpt = typer.Option(0, "--seed", help="Seed of --inputs random.")
DataDirOpt = typer.Option(None, "--data-dir", help="Dataset folder (see `tinydeploy train`).")
SamplesOpt = typer.Option(
    None, "--samples", "-n",
    help="Test images to run (from test_vectors.npz; default all). Chunked when they do not "
    "fit in flash.",
)
FormatOpt = typer.Option(
    "auto", "--format",
    help="Weight format when generating from --tflite: auto, dense, csr, nm or nm<N>_<M>.",
)
KernelsOpt = typer.Option(
    "auto", "--kernels", help="Link the tdnn kernel library: auto (when the model uses it), "
    "yes or no.",
)
OptOpt = typer.Option("O2", "--opt", help="GCC optimisation level: O2 (default), Os, O3...")
TimeoutOpt = typer.Option(
    None, "--timeout", help="Seconds allowed per run (default 120 + 0.1 per image)."
)
SilenceOpt = typer.Option(30.0, "--silence-timeout", help="Longest serial silence in seconds.")
VerboseOpt = typer.Option(False, "--verbose", "-v", help="Echo the UART report lines.")
UploaderOpt = typer.Option(
    None, "--uploader", help="Flash with this uploader (openocd, stlink or pyocd; default: the "
    "first of the board's uploaders that is installed).",
)


OutOpt = typer.Option(
    None, "--out", "-o", help="Work directory (default runs/firmware/<board>)."
)


def register(app: typer.Typer) -> None:
    fw = typer.Typer(help="Build and run the on-device benchmark firmware.",
                     no_args_is_help=True)
    fw.command("build")(build_cmd)
    fw.command("run")(run_cmd)
    fw.command("boards")(boards_cmd)
    fw.command("setup")(setup_cmd)
    app.add_typer(fw, name="firmware")
    app.command("flash")(flash_cmd)
    app.command("bench")(bench_cmd)


def _echo_budget(bp: BenchPlan) -> None:
    """The budget check passed: say by how much (stderr, beside the progress lines)."""
    from tinydeploy.firmware.budget import fit_summary

    typer.echo(fit_summary(bp.footprint, bp.board), err=True)


def _work_dir(out: Path | None, board: str) -> Path:
    return out if out is not None else Path("runs") / "firmware" / board


def _model_dir(model_dir: Path | None, tflite: Path | None, fmt: str, work: Path,
               dataset: str, data_dir: Path | None, samples: int | None,
               inputs: str = "dataset", seed: int = 0) -> Path:
    """--model-dir as given, or a model directory generated from --tflite."""
    from tinydeploy.errors import FirmwareError

    if (model_dir is None) == (tflite is None):
        raise FirmwareError("give exactly one of --model-dir or --tflite")
    if model_dir is not None:
        if inputs != "dataset":
            raise FirmwareError("--inputs applies to --tflite: a --model-dir brings its own "
                                "test_vectors.npz")
        return model_dir
    from tinydeploy.firmware.fromtflite import model_dir_from_tflite

    out = work / "model"
    info = model_dir_from_tflite(tflite, out, fmt=fmt, dataset=dataset, data_dir=data_dir,
                                 samples=samples or 100, inputs=inputs, seed=seed)
    if info["host_int8_correct"] is None:
        same = info["reference_equals_tflm"]
        note = "" if same is None else (" (numpy reference: identical)" if same else
                                        " (numpy reference: DIFFERENT)")
        typer.echo(f"generated {out} ({fmt}); {info['samples']} {inputs} inputs, expected "
                   f"outputs from {info['expected_from']}{note}", err=True)
    else:
        typer.echo(f"generated {out} ({fmt}); host int8 reference: {info['host_int8_correct']}/"
                   f"{info['samples']} correct", err=True)
    return out


def build_cmd(
    board: str = BoardOpt,
    boards_dir: list[Path] | None = BoardsDirOpt,
    model_dir: Path = ModelDirOpt,
    samples: int | None = SamplesOpt,
    fmt: str = FormatOpt,
    kernels: str = KernelsOpt,
    opt: str = OptOpt,
    tflite: Path | None = TfliteOpt,
    dataset: str = DatasetOpt,
    inputs: str = InputsOpt,
    seed: int = SeedOpt,
    data_dir: Path | None = DataDirOpt,
    out: Path | None = OutOpt,
) -> None:
    """Check the model fits, then build the firmware (first chunk of test images)."""
    from tinydeploy.firmware.bench import build_chunk, plan
    from tinydeploy.firmware.boards import get_board
    from tinydeploy.firmware.build import BuildSettings
    from tinydeploy.rundir import write_json_atomic

    profile = get_board(board)
    settings = BuildSettings(opt=opt, kernels=kernels)
    work = _work_dir(out, board)
    model_dir = _model_dir(model_dir, tflite, fmt, work, dataset, data_dir, samples, inputs,
                           seed)
    bp = plan(profile, model_dir, work, samples=samples, settings=settings)
    _echo_budget(bp)
    elf, size = build_chunk(bp, 0, settings)
    f = size.flash
    info = {
        "board": profile.name, "elf": str(elf), "chunks": bp.chunks, "flash_bytes": f,
        "test_data_bytes": size.test_data_bytes, "ram_static_bytes": size.ram_static,
        "stack_reserved_bytes": size.stack_reserved,
    }
    write_json_atomic(bp.work_dir / "build.json", info)
    typer.echo(
        f"built {elf}\nflash {f['total']} B (code {f['code']}, weights {f['weights']}, other "
        f"{f['other']}; test data {size.test_data_bytes} B not counted), static RAM "
        f"{size.ram_static} B, {len(bp.chunks)} chunk(s) of test images"
    )


def _bench(board, model_dir, samples, kernels, opt, out, timeout, silence, verbose, port=None,
           flash=True, tflite=None, fmt="auto", dataset="mnist", data_dir=None,
           uploader=None, inputs="dataset", seed=0) -> None:
    from tinydeploy.firmware.bench import plan, run_plan
    from tinydeploy.firmware.boards import get_board
    from tinydeploy.firmware.build import BuildSettings
    from tinydeploy.firmware.project import env_is_local

    profile = get_board(board)
    if not profile.is_qemu:
        from tinydeploy.errors import FirmwareError

        if not port:
            raise FirmwareError(f"{board} is a real board: pass --port (e.g. /dev/ttyACM0)")
        if flash and env_is_local(profile.pio_env):  # name a missing uploader before building
            from tinydeploy.firmware.flash import find_uploader

            find_uploader(profile, uploader)
    settings = BuildSettings(opt=opt, kernels=kernels)
    work = _work_dir(out, board)
    model_dir = _model_dir(model_dir, tflite, fmt, work, dataset, data_dir, samples, inputs,
                           seed)
    bp = plan(profile, model_dir, work, samples=samples, settings=settings)
    _echo_budget(bp)
    echo = typer.echo if verbose else None
    report = run_plan(bp, settings, port=port, flash=flash, uploader=uploader, timeout=timeout,
                      silence_timeout=silence, echo=echo,
                      progress=lambda m: typer.echo(m, err=True))
    _summary(report)
    typer.echo(f"report {bp.work_dir / 'bench.json'}")
    if report["status"] != "ok":
        typer.secho(f"status: {report['status']}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


def _summary(report: dict) -> None:
    m = report["measured"]
    unit = m["unit"]
    acc = m["accuracy"]
    exp = m["expected_outputs"]
    top1 = "n/a" if acc["top1"] is None else f"{acc['top1']:.2f}%"
    typer.echo(
        f"{report['board']['name']}: {m['images']} image(s), {unit}/inference "
        f"{m['per_inference'][unit + '_mean']:.0f}, accuracy {top1}, output mismatches "
        f"{exp['mismatch_images']} image(s)"
    )
    for layer in m["per_layer"]:
        typer.echo(f"  {layer['name']:<24} {layer[unit + '_mean']:>12.0f}")
    f, r, b = report["flash_bytes"], report["ram_bytes"], report["board"]
    typer.echo(
        f"flash {f['total']} of {b['flash_bytes']} B (code {f['code']}, weights {f['weights']}, "
        f"other {f['other']}); peak RAM {r['peak']} of {b['ram_bytes']} B (static "
        f"{r['static_total']} + stack {r['stack_high_water']})"
    )
    plan = report.get("ram_predicted")
    if plan:
        sb = plan["stack_bound"]
        if plan["peak_model"] is None:
            typer.echo(f"model RAM {r['peak_model']} B (activations {plan['activations']} + stack "
                       f"{r['stack_high_water']}); no stack bound: {sb['reason']}")
        else:
            verdict = "within" if plan["measured_within"] else "OVER"
            typer.echo(f"model RAM {r['peak_model']} B (activations {plan['activations']} + stack "
                       f"{r['stack_high_water']}) {verdict} the plan's {plan['peak_model']} B "
                       f"(activations + stack bound {sb['bytes']} from the call graph)")
    c = m["counter"]
    typer.echo(f"counter: {c['kind']} ({c['unit']})" + (f"; {c['note']}" if c["note"] else ""))


def run_cmd(
    board: str = BoardOpt,
    boards_dir: list[Path] | None = BoardsDirOpt,
    model_dir: Path = ModelDirOpt,
    samples: int | None = SamplesOpt,
    fmt: str = FormatOpt,
    kernels: str = KernelsOpt,
    opt: str = OptOpt,
    tflite: Path | None = TfliteOpt,
    dataset: str = DatasetOpt,
    inputs: str = InputsOpt,
    seed: int = SeedOpt,
    data_dir: Path | None = DataDirOpt,
    out: Path | None = OutOpt,
    timeout: float | None = TimeoutOpt,
    silence: float = SilenceOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Build and run on QEMU (all chunks); writes bench.json. Non-zero exit on a mismatch."""
    from tinydeploy.errors import FirmwareError
    from tinydeploy.firmware.boards import get_board

    if not get_board(board).is_qemu:
        raise FirmwareError(f"{board} is a real board: use `tinydeploy bench --board {board} "
                            "--port /dev/ttyACM0`")
    _bench(board, model_dir, samples, kernels, opt, out, timeout, silence, verbose,
           tflite=tflite, fmt=fmt, dataset=dataset, data_dir=data_dir, inputs=inputs, seed=seed)


def bench_cmd(
    board: str = BoardOpt,
    boards_dir: list[Path] | None = BoardsDirOpt,
    model_dir: Path = ModelDirOpt,
    port: str | None = typer.Option(None, "--port", help="Serial port of a real board."),
    samples: int | None = SamplesOpt,
    fmt: str = FormatOpt,
    kernels: str = KernelsOpt,
    opt: str = OptOpt,
    tflite: Path | None = TfliteOpt,
    dataset: str = DatasetOpt,
    inputs: str = InputsOpt,
    seed: int = SeedOpt,
    data_dir: Path | None = DataDirOpt,
    no_flash: bool = typer.Option(False, "--no-flash", help="Board already flashed."),
    uploader: str | None = UploaderOpt,
    out: Path | None = OutOpt,
    timeout: float | None = TimeoutOpt,
    silence: float = SilenceOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Benchmark on a board (flash, verify, then read the report over --port) or on QEMU."""
    _bench(board, model_dir, samples, kernels, opt, out, timeout, silence, verbose, port=port,
           flash=not no_flash, tflite=tflite, fmt=fmt, dataset=dataset, data_dir=data_dir,
           uploader=uploader, inputs=inputs, seed=seed)


def flash_cmd(
    board: str = typer.Option(..., "--board", "-b", help="Real board profile name."),
    boards_dir: list[Path] | None = BoardsDirOpt,
    model_dir: Path = ModelDirOpt,
    samples: int | None = SamplesOpt,
    fmt: str = FormatOpt,
    kernels: str = KernelsOpt,
    opt: str = OptOpt,
    tflite: Path | None = TfliteOpt,
    dataset: str = DatasetOpt,
    inputs: str = InputsOpt,
    seed: int = SeedOpt,
    data_dir: Path | None = DataDirOpt,
    uploader: str | None = UploaderOpt,
    out: Path | None = OutOpt,
) -> None:
    """Build the firmware (first chunk of test images), flash it with an installed uploader
    (OpenOCD, stlink-tools or pyOCD), read it back to verify, and reset the board."""
    from tinydeploy.errors import FirmwareError
    from tinydeploy.firmware.bench import build_chunk, plan
    from tinydeploy.firmware.boards import get_board
    from tinydeploy.firmware.build import BuildSettings
    from tinydeploy.firmware.project import env_is_local

    profile = get_board(board)
    if profile.is_qemu:
        raise FirmwareError(
            f"{board} is a QEMU board: there is nothing to flash; use `tinydeploy firmware run "
            f"--board {board} --model-dir DIR` to build and run it"
        )
    local = env_is_local(profile.pio_env)
    if local:
        from tinydeploy.firmware.flash import find_uploader, flash_image

        tool = find_uploader(profile, uploader)  # before building: a missing tool is named
    elif uploader:
        raise FirmwareError(f"env {profile.pio_env} of {board} uploads through PlatformIO's "
                            "official platform: --uploader does not apply")
    settings = BuildSettings(opt=opt, kernels=kernels)
    work = _work_dir(out, board)
    model_dir = _model_dir(model_dir, tflite, fmt, work, dataset, data_dir, samples, inputs,
                           seed)
    bp = plan(profile, model_dir, work, samples=samples, settings=settings)
    _echo_budget(bp)
    if not local:
        elf, _ = build_chunk(bp, 0, settings, targets=["upload"])
        typer.echo(f"flashed {elf} to {board} with PlatformIO")
    else:
        elf, _ = build_chunk(bp, 0, settings)
        done = flash_image(profile, elf, bp.work_dir, *tool)
        typer.echo(f"flashed {done.image_bytes} bytes of {elf} to {board} with {done.uploader} "
                   f"({done.executable}); read back and verified; board reset (log {done.log})")
    if len(bp.chunks) > 1:
        typer.echo(f"note: only the first {bp.chunks[0][1]} of the test images fit next to the "
                   f"model; `tinydeploy bench` flashes each of the {len(bp.chunks)} chunks",
                   err=True)
    typer.echo(f"read the report: tinydeploy bench --board {board} --port /dev/ttyACM0 "
               f"--no-flash (same model and options)")


def boards_cmd(boards_dir: list[Path] | None = BoardsDirOpt) -> None:
    """List the board profiles (built-in and your own), with where each comes from."""
    from tinydeploy.firmware.boards import BOARDS_DIR, board_names, get_board

    for name in board_names():
        b = get_board(name)
        origin = "" if b.path is None or b.path.parent == BOARDS_DIR else f"  [{b.path}]"
        typer.echo(f"{name:<16} {b.core:<11} {b.flash_bytes // 1024:>5} KB flash "
                   f"{b.ram_bytes // 1024:>5} KB RAM  {b.description}{origin}")


def setup_cmd() -> None:
    """Check the toolchain and QEMU, and create PlatformIO's offline tool-scons shim."""
    from tinydeploy.firmware.boards import DEFAULT_BOARD
    from tinydeploy.firmware.requirements import require_firmware_build, require_qemu
    from tinydeploy.firmware.toolchain import ensure_scons_shim, pio_command

    require_firmware_build()
    require_qemu(DEFAULT_BOARD)
    typer.echo(f"pio: {' '.join(pio_command())}\ntool-scons shim: {ensure_scons_shim()}")
