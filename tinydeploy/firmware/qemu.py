"""Running a firmware ELF under qemu-system-arm, its UART read through a pseudo-terminal.

QEMU starts paused (-S) with `-serial pty`; the host opens the pty with the same pyserial
reader used for real boards, then resumes the guest from the monitor. Under
`-icount shift=0` one instruction is one nanosecond of virtual time, so SysTick counts are
exact and repeatable. The guest exits through semihosting (SYS_EXIT_EXTENDED) with the
harness's status code, after the host has acknowledged the last report line.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tinydeploy.errors import FirmwareError
from tinydeploy.firmware.boards import BoardProfile
from tinydeploy.firmware.report import EXIT_HARDFAULT, EXIT_MEANING, EXIT_UNEXPECTED
from tinydeploy.firmware.requirements import require_qemu
from tinydeploy.firmware.serialio import FirmwareTimeout, open_port, read_report

PTY_RE = re.compile(rb"char device redirected to (/dev/\S+)")


class FirmwareFault(FirmwareError):
    """The firmware crashed (HardFault or an unexpected exception)."""


class QemuCrash(FirmwareError):
    """QEMU itself failed or died without a report."""


@dataclass
class QemuResult:
    lines: list[str]
    returncode: int
    qemu_output: str
    command: list[str]


def qemu_command(board: BoardProfile, elf: Path, extra: list[str] | None = None) -> list[str]:
    if not board.is_qemu:
        raise FirmwareError(f"board {board.name} is a real board: use `tinydeploy bench --port`")
    return [
        "qemu-system-arm", "-M", str(board.qemu_machine), "-display", "none",
        "-monitor", "stdio", "-serial", "pty", "-S", "-icount", "shift=0",
        "-semihosting-config", "enable=on,target=native", "-kernel", str(elf), *(extra or []),
    ]


class _Drain(threading.Thread):
    """Collects QEMU's stdout/stderr (monitor chatter, errors) so its pipe never fills."""

    def __init__(self, fd: int):
        super().__init__(daemon=True)
        self.fd = fd
        self.data = b""
        self.lock = threading.Lock()

    def run(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            with self.lock:
                self.data += chunk

    def text(self) -> str:
        with self.lock:
            return self.data.decode("utf-8", errors="replace")


def run_qemu(
    board: BoardProfile,
    elf: Path,
    *,
    timeout: float = 120.0,
    silence_timeout: float = 30.0,
    start_timeout: float = 15.0,
    echo=None,
) -> QemuResult:
    """Run `elf` on `board` under QEMU; returns the report lines and QEMU's exit status.

    Raises FirmwareFault (HardFault), FirmwareTimeout (hung or silent guest) or QemuCrash.
    """
    require_qemu(board.name)
    if not elf.is_file():
        raise FirmwareError(f"firmware {elf} does not exist: run `tinydeploy firmware build`")
    cmd = qemu_command(board, elf)
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        pty = _wait_for_pty(proc, start_timeout)
        drain = _Drain(proc.stdout.fileno())
        drain.start()
        ser = open_port(pty)
        try:
            assert proc.stdin is not None
            proc.stdin.write(b"cont\n")
            proc.stdin.flush()
            cap = read_report(
                ser, timeout=timeout, silence_timeout=silence_timeout,
                alive=lambda: proc.poll() is None, echo=echo,
            )
            # keep the pty open until QEMU exits: closing it first can lose the ACK byte
            try:
                rc = proc.wait(timeout=10)
            except subprocess.TimeoutExpired as exc:
                raise FirmwareTimeout(
                    "QEMU did not exit within 10 s after the report ended"
                ) from exc
        finally:
            ser.close()
        out = drain.text()
    except FirmwareTimeout as exc:
        _kill(proc)
        raise FirmwareTimeout(f"{exc} (QEMU {board.qemu_machine} killed)") from None
    finally:
        _kill(proc)
    result = QemuResult(cap.lines, rc, out, cmd)
    _check(result, cap.terminated)
    return result


def _wait_for_pty(proc: subprocess.Popen, timeout: float) -> str:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
            m = PTY_RE.search(buf)
            if m:
                return m.group(1).decode()
        elif proc.poll() is not None:
            break
    _kill(proc)
    text = buf.decode("utf-8", errors="replace").strip()
    raise QemuCrash(f"QEMU did not start (exit {proc.poll()}): {text[-600:] or 'no output'}")


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()
        proc.wait(timeout=10)
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def _check(result: QemuResult, terminated: bool) -> None:
    rc = result.returncode
    last = result.lines[-1] if result.lines else "nothing"
    if rc == EXIT_HARDFAULT:
        raise FirmwareFault(
            f"firmware HardFault (QEMU exit code {rc}); last output: {last!r}"
        )
    if rc == EXIT_UNEXPECTED:
        raise FirmwareFault(f"firmware took an unexpected exception (exit code {rc})")
    if rc < 0:
        raise QemuCrash(f"QEMU was killed by signal {-rc}; last output: {last!r}")
    if not terminated:
        tail = result.qemu_output.strip()[-400:]
        meaning = EXIT_MEANING.get(rc, "not a harness exit code")
        raise QemuCrash(
            f"QEMU exited with code {rc} ({meaning}) before the report ended; "
            f"last output: {last!r}; QEMU said: {tail or 'nothing'}"
        )
