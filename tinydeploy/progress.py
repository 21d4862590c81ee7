"""The progress bar every long-running step shows (training epochs, sweeps)."""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def progress_bar(*, eta: bool = True, transient: bool = False) -> Progress:
    """description, bar, done/total, the task's `status` field, elapsed (and rich's ETA).
    Callers that compute their own ETA into `status` pass eta=False."""
    columns = [TextColumn("[progress.description]{task.description}"), BarColumn(),
               MofNCompleteColumn(), TextColumn("{task.fields[status]}"), TimeElapsedColumn()]
    if eta:
        columns.append(TimeRemainingColumn())
    return Progress(*columns, transient=transient)
