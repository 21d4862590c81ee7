"""A stand-in for `openocd` that records its arguments and emulates a board's flash.

Installed by the tests as an `openocd` executable first on PATH. It understands the OpenOCD
commands tinydeploy.firmware.flash sends: `program "<elf>" verify exit` keeps the ELF's
image (objcopy -O binary) as the board's flash; `dump_image "<out>" <addr> <size>` writes it
back; `reset run` starts the flashed ELF on a real QEMU STM32 machine when FAKE_QEMU_MACHINE
is set, its USART on a pseudo-terminal linked at $FAKE_UPLOADER_DIR/tty: an emulated board
for `tinydeploy bench --port`.

Environment: FAKE_UPLOADER_DIR (state and calls.jsonl, required), FAKE_CORRUPT (flip the
byte at this offset of the read-back), FAKE_QEMU_MACHINE (e.g. netduinoplus2).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

STATE = Path(os.environ["FAKE_UPLOADER_DIR"])
FLASH = STATE / "flash.bin"


def start_board(machine: str) -> None:
    elf = (STATE / "flashed.elf.txt").read_text()
    log = STATE / "qemu.out"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["qemu-system-arm", "-M", machine, "-display", "none", "-monitor", "none",
             "-serial", "pty", "-icount", "shift=0", "-kernel", elf],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    (STATE / "qemu.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        m = re.search(r"char device redirected to (/dev/\S+)", log.read_text())
        if m:
            tty = STATE / "tty"
            tty.unlink(missing_ok=True)
            tty.symlink_to(m.group(1))
            return
        time.sleep(0.05)
    sys.exit(f"fake openocd: QEMU gave no pty: {log.read_text()}")


def run(command: str) -> None:
    words = shlex.split(command)
    if words[0] == "program":
        elf = words[1]
        subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", elf, str(FLASH)], check=True)
        (STATE / "flashed.elf.txt").write_text(elf)
        print("** Programming Finished **\n** Verify Started **\n** Verified OK **")
    elif words[0] == "dump_image":
        out, _addr, size = words[1], int(words[2], 0), int(words[3])
        data = bytearray(FLASH.read_bytes()[:size])
        if os.environ.get("FAKE_CORRUPT"):
            data[int(os.environ["FAKE_CORRUPT"])] ^= 0xFF
        Path(out).write_bytes(bytes(data))
    elif words == ["reset", "run"] and os.environ.get("FAKE_QEMU_MACHINE"):
        start_board(os.environ["FAKE_QEMU_MACHINE"])


def main(argv: list[str]) -> int:
    with (STATE / "calls.jsonl").open("a") as fp:
        fp.write(json.dumps(argv) + "\n")
    configs = [argv[i + 1] for i, a in enumerate(argv) if a == "-f"]
    if not configs or not all(c.endswith(".cfg") for c in configs):
        print("fake openocd: expected -f interface/<x>.cfg -f target/<y>.cfg", file=sys.stderr)
        return 1
    for i, a in enumerate(argv):
        if a == "-c":
            run(argv[i + 1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
