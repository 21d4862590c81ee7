"""Writing an analysis: one JSON with every raw number, PNG plots and a Markdown summary,
each written atomically into the output directory; nothing is overwritten without `force`."""

from __future__ import annotations

import io
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tinydeploy.rundir import ensure_writable, write_bytes_atomic, write_json_atomic
from tinydeploy.rundir import write_text_atomic as _write_text


def output_names(kind: str, plots: Iterable[str] = ()) -> list[str]:
    return [f"{kind}.json", f"{kind}.md", *(f"{kind}_{p}.png" for p in plots)]


def check_out(out: Path, kind: str, plots: Iterable[str], force: bool) -> None:
    """Refuse to start an analysis whose report would overwrite one without --force."""
    ensure_writable(Path(out), output_names(kind, plots), force=force)


def write_report(out: Path, kind: str, data: dict[str, Any], markdown: str,
                 plots: dict[str, bytes]) -> list[Path]:
    """Write `<kind>.json`, `<kind>.md` and `<kind>_<plot>.png` (all atomic)."""
    out = Path(out)
    paths = [out / f"{kind}_{name}.png" for name in plots]
    for path, png in zip(paths, plots.values(), strict=True):
        write_bytes_atomic(path, png)
    paths.append(write_json_atomic(out / f"{kind}.json", data))
    paths.append(_write_text(out / f"{kind}.md", markdown))
    return paths


def md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.2f}"
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def pct(s: float | None, digits: int = 1) -> str:
    return "n/a" if s is None else f"{100 * s:.{digits}f}%"


def provenance(ctx, *, selection: bool = True, test: bool = False, **extra: Any) -> dict[str, Any]:
    """Where the numbers come from: which split and how many images each kind of number used.

    selection: scans / selection ran on the validation split (`selection_images` of it);
    test: final numbers were measured on `test_images` test images (0: the test set was not
    read)."""
    out = {"checkpoint": ctx.checkpoint, "fingerprint": ctx.fingerprint,
           "dataset": ctx.dataset_name}
    if selection:
        out.update(selection_split="validation", selection_images=ctx.val.n,
                   validation_split=ctx.split.to_dict())
    out.update(test_split="test" if test else None, test_images=ctx.test.n if test else 0)
    out.update(created=time.strftime("%Y-%m-%dT%H:%M:%S"), **extra)
    return out


def images_text(prov: dict[str, Any]) -> str:
    """The Markdown sentence saying which images the numbers used."""
    parts = []
    if prov.get("selection_split"):
        split = prov.get("validation_split") or {}
        parts.append(f"{prov.get('selection_images')} validation images (training images "
                     f"held out by the checkpoint's recipe: val_size {split.get('val_size')}, "
                     f"seed {split.get('seed')})")
    if prov.get("test_images"):
        parts.append(f"{prov['test_images']} test images (final numbers only)")
    else:
        parts.append("no test images")
    return "; ".join(parts)


def figure():
    """A headless matplotlib pyplot module."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png(fig) -> bytes:
    plt = figure()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
