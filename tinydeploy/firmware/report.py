"""The harness's UART report: parsing, merging chunks, and the JSON written by `bench`.

The firmware (resources/firmware/src/harness.c) prints one record per line,
`TD:<KIND> key=value ...` (values without spaces); lines without the `TD:` prefix are
ignored, so boot noise is harmless:

    TD:BEGIN board=qemu-m4 counter=systick-icount counter_hz=25000000 layers=2 input=16
             output=4 arena=8 in_dtype=int8 out_dtype=int8 offset=0 count=1
             [port notes, e.g. clock=pll dwt=counting]
    TD:IMG i=<global index> label=<-1 if unknown> pred=<argmax> diff=<mismatching elements>
           ticks=<counter ticks of tdm_invoke>
    TD:MISMATCH i=<image> k=<output index> got=<value> want=<value>   (first few only)
    TD:LAYER idx=<n> name=<layer> sum=<ticks over all images> min=<ticks> max=<ticks>
    TD:SUMMARY n=.. labelled=.. correct=.. mismatch_images=.. mismatch_bytes=.. ticks_sum=..
               ticks_min=.. ticks_max=.. stack_hwm=<bytes> stack_size=<bytes> arena=<bytes>
    TD:ERROR kind=invoke i=<image> rc=<code>
    TD:FAULT kind=hardfault|unexpected_exception
    TD:END status=ok|mismatch|invoke_error|setup_error|stack_overflow code=<exit code>

Outputs are the model's: int8, or uint8 / float32 for a model with such edges (`out_dtype`);
float32 elements are compared bit for bit and `got` / `want` are their IEEE-754 bit patterns
as int32. `mismatch_bytes` counts mismatching elements (bytes for 8-bit outputs).

`counter` is systick-icount (QEMU MPS2/MPS3), dwt (DWT CYCCNT) or systick (the STM32 port's
fallback when DWT does not count). Ticks are converted on the host
(`tinydeploy.firmware.counter`): under QEMU, instructions retired = ticks * 1e9 / the
machine's clock (exact to one tick under -icount shift=0); on real boards ticks are core
cycles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tinydeploy.errors import FirmwareError

# Mirrors resources/firmware/src/td_port.h.
EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_INVOKE = 2
EXIT_SETUP = 3
EXIT_STACK = 4
EXIT_HARDFAULT = 90
EXIT_UNEXPECTED = 91
EXIT_MEANING = {
    EXIT_OK: "ok",
    EXIT_MISMATCH: "outputs differ from the expected ones",
    EXIT_INVOKE: "tdm_invoke returned an error",
    EXIT_SETUP: "harness set-up error",
    EXIT_STACK: "stack overflow (the painted stack was used up)",
    EXIT_HARDFAULT: "HardFault in the firmware",
    EXIT_UNEXPECTED: "unexpected exception or interrupt in the firmware",
}

PREFIX = "TD:"


def parse_record(line: str) -> tuple[str, dict[str, str]] | None:
    """`TD:KIND k=v ...` -> (KIND, {k: v}); None for any other line."""
    start = line.find(PREFIX)
    if start < 0:
        return None
    parts = line[start + len(PREFIX):].split()
    if not parts:
        return None
    fields: dict[str, str] = {}
    for token in parts[1:]:
        key, sep, value = token.partition("=")
        if sep:
            fields[key] = value
    return parts[0], fields


def is_terminal(line: str) -> bool:
    """A line after which the firmware sends nothing more (END or FAULT)."""
    rec = parse_record(line)
    return rec is not None and rec[0] in ("END", "FAULT")


@dataclass
class LayerStats:
    name: str
    sum: int = 0
    min: int | None = None
    max: int | None = None


@dataclass
class ChunkReport:
    """One firmware run: the parsed records of one chunk of test images."""

    begin: dict[str, str] = field(default_factory=dict)
    images: list[dict[str, int]] = field(default_factory=list)
    mismatches: list[dict[str, int]] = field(default_factory=list)
    layers: list[LayerStats] = field(default_factory=list)
    summary: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    fault: str | None = None
    status: str | None = None
    code: int | None = None
    lines: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.status is not None


def _ints(fields: dict[str, str]) -> dict[str, int]:
    out = {}
    for k, v in fields.items():
        try:
            out[k] = int(v)
        except ValueError as exc:
            raise FirmwareError(f"malformed report field {k}={v!r}") from exc
    return out


def parse_report(lines: list[str]) -> ChunkReport:
    rep = ChunkReport(lines=list(lines))
    for line in lines:
        rec = parse_record(line)
        if rec is None:
            continue
        kind, f = rec
        if kind == "BEGIN":
            rep.begin = f
        elif kind == "IMG":
            rep.images.append(_ints(f))
        elif kind == "MISMATCH":
            rep.mismatches.append(_ints(f))
        elif kind == "LAYER":
            name = f.pop("name", "?")
            v = _ints(f)
            rep.layers.append(LayerStats(name, v["sum"], v["min"], v["max"]))
        elif kind == "SUMMARY":
            rep.summary = _ints(f)
        elif kind == "ERROR":
            rep.errors.append(f)
        elif kind == "FAULT":
            rep.fault = f.get("kind", "fault")
        elif kind == "END":
            rep.status = f.get("status", "?")
            rep.code = int(f.get("code", "-1"))
    return rep


def merge_chunks(chunks: list[ChunkReport], counts_per_tick: float, unit: str) -> dict[str, Any]:
    """Combine chunk reports into the measured part of the benchmark JSON."""
    if not chunks:
        raise FirmwareError("no firmware report to merge")
    images = [img for c in chunks for img in c.images]
    n = len(images)
    labelled = [img for img in images if img["label"] >= 0]
    correct = sum(img["pred"] == img["label"] for img in labelled)
    names = [layer.name for layer in chunks[0].layers]
    layers = []
    for idx, name in enumerate(names):
        per = [c.layers[idx] for c in chunks if idx < len(c.layers)]
        total = sum(p.sum for p in per)
        layers.append({
            "name": name,
            f"{unit}_mean": round(total * counts_per_tick / n, 1) if n else None,
            f"{unit}_min": round(min(p.min for p in per) * counts_per_tick) if per else None,
            f"{unit}_max": round(max(p.max for p in per) * counts_per_tick) if per else None,
        })
    ticks = [img["ticks"] for img in images]
    hwm = max(c.summary.get("stack_hwm", 0) for c in chunks)
    return {
        "images": n,
        "unit": unit,
        "per_inference": {
            f"{unit}_mean": round(sum(ticks) * counts_per_tick / n, 1) if n else None,
            f"{unit}_min": round(min(ticks) * counts_per_tick) if n else None,
            f"{unit}_max": round(max(ticks) * counts_per_tick) if n else None,
            "ticks_sum": sum(ticks),
            "counts_per_tick": counts_per_tick,
        },
        "per_layer": layers,
        "accuracy": {
            "labelled": len(labelled),
            "correct": correct,
            "top1": round(100.0 * correct / len(labelled), 4) if labelled else None,
        },
        "expected_outputs": {
            "mismatch_images": sum(c.summary.get("mismatch_images", 0) for c in chunks),
            "mismatch_bytes": sum(c.summary.get("mismatch_bytes", 0) for c in chunks),
            "first_mismatches": [m for c in chunks for m in c.mismatches][:32],
            "bit_exact": all(c.summary.get("mismatch_images", 1) == 0 for c in chunks),
        },
        "stack": {"high_water_bytes": hwm, "reserved_bytes": chunks[0].summary.get("stack_size")},
        "arena_bytes": chunks[0].summary.get("arena"),
        "status": next((c.status for c in chunks if c.status != "ok"), "ok"),
    }
