"""A local, resumable sweep runner.

A sweep is a list of `Trial`s: frozen, JSON-serialisable specs naming their trial function by
import path ("package.module:function") and its parameters; a trial's id is a short hash of
its canonical JSON. `run_sweep` writes each trial's result atomically to
`<sweep_dir>/trials/<id>.json`, skips trials whose result is already there (resume after an
interruption loses nothing finished), retries failing trials a bounded number of times,
records the last failure with its traceback, and shows a progress bar.

Executors decide where trials run: `LocalExecutor` (in-process or a process pool) and
`RayExecutor` (Ray tasks; ray_executor.py, needs `pip install 'tinydeploy[ray]'`);
`make_executor("local"|"ray", ...)` builds either for an `--executor` option. Sweep configs
(TOML grids) are read by `tinydeploy.sweep.config`; `tinydeploy sweep` is the CLI.
"""

from tinydeploy.sweep.executor import (
    EXECUTORS,
    Executor,
    LocalExecutor,
    execute_trial,
    make_executor,
)
from tinydeploy.sweep.runner import SweepSummary, load_results, run_sweep, use_executor
from tinydeploy.sweep.spec import Trial, canonical_json, grid

__all__ = [
    "EXECUTORS",
    "Executor",
    "LocalExecutor",
    "SweepSummary",
    "Trial",
    "canonical_json",
    "execute_trial",
    "grid",
    "load_results",
    "make_executor",
    "run_sweep",
    "use_executor",
]
