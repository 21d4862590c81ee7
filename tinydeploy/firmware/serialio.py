"""Reading the harness report from a serial port (pyserial), with hard time limits.

The same reader serves real boards (`/dev/ttyACM0`) and QEMU (`-serial pty`), so the serial
path is exercised by every QEMU run. A run that is silent for too long, or that does not end
within its deadline, is a FirmwareError: a hung QEMU or a silent board never hangs the CLI.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tinydeploy.errors import FirmwareError
from tinydeploy.firmware.report import is_terminal

ACK = b"\x06"  # sent after the last report line; the QEMU firmware waits for it before exiting
START_EVERY = 0.5  # seconds between start bytes until a board answers


class FirmwareTimeout(FirmwareError):
    """The firmware did not finish (or went silent) within the time limit."""


@dataclass
class SerialCapture:
    lines: list[str] = field(default_factory=list)
    terminated: bool = False  # a TD:END / TD:FAULT line was seen
    closed: bool = False  # the port went away (QEMU exited, board unplugged)


def open_port(port: str, baud: int = 115200, open_timeout: float = 5.0):
    """Open `port` with pyserial; retries briefly (a board may still be enumerating)."""
    import serial

    deadline = time.monotonic() + open_timeout
    while True:
        try:
            return serial.Serial(port, baudrate=baud, timeout=0.1, write_timeout=2.0)
        except (serial.SerialException, OSError) as exc:
            if time.monotonic() >= deadline:
                raise FirmwareError(f"cannot open serial port {port}: {exc}") from exc
            time.sleep(0.2)


def read_report(
    ser,
    *,
    timeout: float,
    silence_timeout: float,
    alive: Callable[[], bool] | None = None,
    echo: Callable[[str], None] | None = None,
    ack: bool = True,
    start: bytes | None = None,
) -> SerialCapture:
    """Read lines until a terminal report line, the port closing, or a time limit.

    `timeout`: hard limit for the whole report. `silence_timeout`: longest gap without any
    byte. `alive()`: False once the producer (the QEMU process) has gone, which ends the read
    after draining. `start`: sent every START_EVERY seconds until the first byte arrives (a
    board waits for it; one sent while it was still resetting would be lost). Raises
    FirmwareTimeout with what was received so far.
    """
    import serial

    cap = SerialCapture()
    buf = b""
    t0 = last_data = time.monotonic()
    last_start = t0 - START_EVERY
    port = getattr(ser, "port", "serial port")
    while True:
        now = time.monotonic()
        if start and not cap.lines and not buf and now - last_start >= START_EVERY:
            try:
                ser.write(start)
                ser.flush()
            except (serial.SerialException, OSError):
                pass
            last_start = now
        if now - t0 > timeout:
            raise FirmwareTimeout(
                f"no complete report from {port} within {timeout:.0f} s "
                f"({len(cap.lines)} lines received{_tail(cap)})"
            )
        if now - last_data > silence_timeout:
            what = "no data at all" if not cap.lines and not buf else "no data"
            raise FirmwareTimeout(
                f"serial silence: {what} from {port} for {silence_timeout:.0f} s"
                f"{_tail(cap)}"
            )
        try:
            chunk = ser.read(4096)
        except (serial.SerialException, OSError):
            chunk, cap.closed = b"", True
        if chunk:
            last_data = time.monotonic()
            buf += chunk
            *complete, buf = buf.split(b"\n")
            for raw in complete:
                line = raw.decode("utf-8", errors="replace").rstrip("\r")
                cap.lines.append(line)
                if echo:
                    echo(line)
                if is_terminal(line):
                    cap.terminated = True
            if cap.terminated:
                if ack:
                    try:
                        ser.write(ACK)
                        ser.flush()
                    except (serial.SerialException, OSError):
                        pass
                return cap
        elif cap.closed or (alive is not None and not alive()):
            if buf:
                cap.lines.append(buf.decode("utf-8", errors="replace"))
            cap.closed = True
            return cap


def _tail(cap: SerialCapture) -> str:
    return f"; last line: {cap.lines[-1]!r}" if cap.lines else ""
