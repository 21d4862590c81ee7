"""Will the model fit the board? Checked before building, with both numbers in the refusal.

The model's sources are compiled alone for the board's core (a second or two), and its
object sizes give the weights and code; TDM_* sizes are read from model.h by compiling a
probe (any constant expression works). The harness's own needs are small fixed reserves.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tinydeploy.errors import FirmwareError
from tinydeploy.firmware.boards import BoardProfile
from tinydeploy.firmware.elfsize import section_sizes
from tinydeploy.firmware.requirements import require_firmware_build
from tinydeploy.resources import tdnn_dir

HARNESS_FLASH_RESERVE = 8 * 1024  # vector table, harness, start-up, libc pieces
HARNESS_RAM_RESERVE = 3 * 1024  # harness statics + stack outside the model
KERNEL_INCLUDE = tdnn_dir() / "include"

CPU_FLAGS = {
    "cortex-m0plus": ["-mcpu=cortex-m0plus"],
    "cortex-m3": ["-mcpu=cortex-m3"],
    "cortex-m4": ["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"],
    "cortex-m7": ["-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard"],
    "cortex-m33": ["-mcpu=cortex-m33", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard"],
    "cortex-m55": ["-mcpu=cortex-m55", "-mfloat-abi=hard"],
}


@dataclass(frozen=True)
class ModelFootprint:
    input_size: int  # bytes (elements times the I/O type size)
    output_size: int  # bytes
    arena_size: int
    num_layers: int
    weights_bytes: int  # read-only data of the model objects
    code_bytes: int  # model code (kernel library not included)

    @property
    def flash_bytes(self) -> int:
        return self.weights_bytes + self.code_bytes + HARNESS_FLASH_RESERVE

    @property
    def ram_bytes(self) -> int:
        return self.arena_size + self.output_size + HARNESS_RAM_RESERVE


def cpu_flags(board: BoardProfile) -> list[str]:
    try:
        return ["-mthumb", *CPU_FLAGS[board.core]]
    except KeyError as exc:
        raise FirmwareError(
            f"board {board.name}: core {board.core!r} unknown; known: {', '.join(CPU_FLAGS)}"
        ) from exc


def _compile(args: list[str], what: str) -> None:
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired as exc:
        raise FirmwareError(f"compiling {what} timed out") from exc
    if proc.returncode != 0:
        raise FirmwareError(f"cannot compile {what}:\n{proc.stderr.strip()[-2000:]}")


def model_sources(model_dir: Path) -> list[Path]:
    return sorted(p for p in model_dir.glob("*.c") if p.name != "test_data.c")


def measure_model(model_dir: Path, board: BoardProfile, opt: str = "O2") -> ModelFootprint:
    """Compile the model alone for `board` and measure it (before any firmware build)."""
    require_firmware_build()
    gcc = "arm-none-eabi-gcc"  # on PATH: checked by require_firmware_build
    model_dir = Path(model_dir)
    if not (model_dir / "model.h").is_file():
        raise FirmwareError(f"{model_dir} has no model.h: is it a generated model directory?")
    sources = model_sources(model_dir)
    if not sources:
        raise FirmwareError(f"{model_dir} has no .c sources")
    flags = [*cpu_flags(board), f"-{opt}", "-ffunction-sections", "-fdata-sections",
             "-DTDM_PROFILE", f"-I{model_dir}", f"-I{KERNEL_INCLUDE}"]
    with tempfile.TemporaryDirectory(prefix="td-budget-") as tmp_name:
        tmp = Path(tmp_name)
        probe = tmp / "probe.c"
        probe.write_text(
            '#include "model.h"\n'
            "#ifndef TDM_INPUT_DTYPE\n"  # a model.h without typed I/O: int8 in and out
            "typedef signed char tdm_input_t;\ntypedef signed char tdm_output_t;\n#endif\n"
            "const unsigned long td_probe[4] = {TDM_INPUT_SIZE * sizeof(tdm_input_t), "
            "TDM_OUTPUT_SIZE * sizeof(tdm_output_t), TDM_ARENA_SIZE, TDM_NUM_LAYERS};\n"
        )
        _compile([gcc, *flags, "-S", "-o", str(tmp / "probe.s"), str(probe)], "model.h")
        words = re.findall(r"\.word\s+(-?\d+)", (tmp / "probe.s").read_text())
        if len(words) != 4:
            raise FirmwareError(f"cannot read TDM_* sizes from {model_dir / 'model.h'}")
        in_size, out_size, arena, layers = (int(w) for w in words)
        weights = code = 0
        for i, src in enumerate(sources):
            obj = tmp / f"m{i}.o"
            _compile([gcc, *flags, "-c", "-o", str(obj), str(src)], src.name)
            for name, size in section_sizes(obj).items():
                if name.startswith(".text"):
                    code += size
                elif name.startswith((".rodata", ".data")) and not name.startswith(
                    (".rodata.tdm_golden", ".rodata.tdm_layer_names", ".rodata.str")
                ):
                    weights += size
    return ModelFootprint(in_size, out_size, arena, layers, weights, code)


def check_budget(fp: ModelFootprint, board: BoardProfile) -> None:
    """Refuse a model that cannot fit the board, naming what it needs and what there is."""
    problems = []
    if fp.flash_bytes > board.flash_bytes:
        problems.append(
            f"flash: needs {fp.flash_bytes} bytes (weights {fp.weights_bytes} + model code "
            f"{fp.code_bytes} + harness ~{HARNESS_FLASH_RESERVE}) but {board.name} has "
            f"{board.flash_bytes}"
        )
    if fp.ram_bytes > board.ram_bytes:
        problems.append(
            f"RAM: needs {fp.ram_bytes} bytes (arena {fp.arena_size} + output "
            f"{fp.output_size} + harness/stack ~{HARNESS_RAM_RESERVE}) but {board.name} has "
            f"{board.ram_bytes}"
        )
    if problems:
        raise FirmwareError("model does not fit board " + board.name + ": " + "; ".join(problems))


def fit_summary(fp: ModelFootprint, board: BoardProfile) -> str:
    """One line for a model that passed the budget check: what it needs against the board."""
    return (f"budget: fits {board.name}: flash ~{fp.flash_bytes} of {board.flash_bytes} B, RAM "
            f"~{fp.ram_bytes} of {board.ram_bytes} B (estimated before building)")


def samples_per_chunk(fp: ModelFootprint, board: BoardProfile, bytes_per_sample: int,
                      cap: int) -> int:
    """How many test images fit in the flash left next to the model (at most `cap`)."""
    left = board.flash_bytes - fp.flash_bytes - 4096  # slack for alignment and growth
    return max(0, min(cap, left // bytes_per_sample))


def samples_next_to(used_flash: int, board: BoardProfile, bytes_per_sample: int,
                    cap: int) -> int:
    """How many test images fit beside a firmware measured to use `used_flash` bytes."""
    left = board.flash_bytes - used_flash - 1024  # slack for the arrays' alignment
    return max(0, min(cap, left // bytes_per_sample))
