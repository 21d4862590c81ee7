"""Flash and RAM of a firmware image, read from the ELF and the linker map.

Measured, not estimated: section sizes come from `arm-none-eabi-size -A`, and the split of
flash into code / weights / other comes from the linker map, which says which object file
every input section came from:

- weights: read-only data (.rodata*, plus .data initialisers) of the model's objects, except
  the golden vectors, layer names and string literals (those count as other);
- code: machine code (.text*) of the model's objects and of the tdnn kernel library;
- other: everything else in flash (vector table, harness, start-up, libc, libgcc, padding);
- test_data: the embedded test images/labels/expected outputs, reported apart and NOT
  counted in the flash total (a deployed firmware does not carry them).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tinydeploy.errors import FirmwareError

FLASH_SECTIONS = {
    ".isr_vector", ".text", ".rodata", ".ARM.exidx", ".ARM.extab", ".preinit_array",
    ".init_array", ".fini_array", ".data",
}
RAM_SECTIONS = {".data", ".bss"}
STACK_SECTIONS = {".stack", "._user_heap_stack"}

# Folders the PlatformIO extra script (resources/firmware/tools/td_sources.py) builds objects into.
MODEL_OBJ = "/td_model/"
KERNEL_OBJ = "/td_tdnn/"
TESTDATA_OBJ = "/td_gen/"
# Model read-only data that is not weights: golden vectors, layer names, string literals.
NOT_WEIGHTS = (".rodata.tdm_golden", ".rodata.tdm_layer_names", ".rodata.str")


@dataclass
class ImageSize:
    sections: dict[str, int]
    flash: dict[str, int] = field(default_factory=dict)  # code / weights / other / total
    test_data_bytes: int = 0
    ram_static: int = 0  # .data + .bss
    stack_reserved: int = 0
    symbols: dict[str, int] = field(default_factory=dict)
    # tdnn machine code per "object:input section" (one function each with -ffunction-sections):
    # what a model's choice of kernels costs in flash, shared by the layers that use it
    kernel_text: dict[str, int] = field(default_factory=dict)


def section_sizes(elf: Path, size_tool: str = "arm-none-eabi-size") -> dict[str, int]:
    try:
        out = subprocess.run(
            [size_tool, "-A", "-d", str(elf)], capture_output=True, text=True, timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise FirmwareError(f"cannot read section sizes of {elf}: {exc}") from exc
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def symbol_sizes(elf: Path, names: set[str], nm_tool: str = "arm-none-eabi-nm") -> dict[str, int]:
    """Sizes of the named symbols (e.g. td_arena) from `nm --size-sort -S`."""
    try:
        out = subprocess.run(
            [nm_tool, "--size-sort", "-S", str(elf)], capture_output=True, text=True,
            timeout=30, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise FirmwareError(f"cannot list symbols of {elf}: {exc}") from exc
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] in names:
            found[parts[3]] = int(parts[1], 16)
    return found


_OUT_RE = re.compile(r"^(\.\S+)\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)")
_IN_RE = re.compile(r"^ (\.\S+|COMMON)\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+(\S.*)$")


def map_contributions(map_path: Path) -> list[tuple[str, str, int, str]]:
    """(output section, input section, size, object) for every input section in the map."""
    try:
        text = map_path.read_text(errors="replace")
    except OSError as exc:
        raise FirmwareError(f"cannot read linker map {map_path}: {exc}") from exc
    marker = text.find("Linker script and memory map")
    lines = text[marker:].splitlines() if marker >= 0 else text.splitlines()
    out: list[tuple[str, str, int, str]] = []
    current = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        # names too long for their column continue on the next line
        if re.fullmatch(r" ?(\.\S+|COMMON)", line) and i + 1 < len(lines):
            line = line + " " + lines[i + 1].strip()
            i += 1
        m = _OUT_RE.match(line)
        if m:
            current = m.group(1)
        else:
            m = _IN_RE.match(line)
            if m and current:
                out.append((current, m.group(1), int(m.group(3), 16), m.group(4).strip()))
        i += 1
    return out


def image_size(elf: Path, map_path: Path | None = None) -> ImageSize:
    sections = section_sizes(elf)
    flash_total = sum(v for k, v in sections.items() if k in FLASH_SECTIONS)
    res = ImageSize(sections=sections)
    res.ram_static = sum(v for k, v in sections.items() if k in RAM_SECTIONS)
    res.stack_reserved = sum(v for k, v in sections.items() if k in STACK_SECTIONS)
    res.symbols = symbol_sizes(elf, {"td_arena", "td_output"})
    code = weights = test_data = 0
    map_path = map_path or elf.with_suffix(".map")
    if map_path.exists():
        for out_sec, in_sec, size, obj in map_contributions(map_path):
            if out_sec not in FLASH_SECTIONS:
                continue
            if TESTDATA_OBJ in obj:
                test_data += size
            elif MODEL_OBJ in obj:
                if in_sec.startswith(".text"):
                    code += size
                elif in_sec.startswith((".rodata", ".data")) and not in_sec.startswith(
                    NOT_WEIGHTS
                ):
                    weights += size
            elif KERNEL_OBJ in obj and in_sec.startswith(".text"):
                code += size
                key = f"{Path(obj).name}:{in_sec}"
                res.kernel_text[key] = res.kernel_text.get(key, 0) + size
    total = flash_total - test_data
    res.flash = {"code": code, "weights": weights, "other": total - code - weights,
                 "total": total}
    res.test_data_bytes = test_data
    return res
