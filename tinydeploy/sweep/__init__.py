"""A local, resumable sweep runner.

A sweep is a list of `Trial`s: frozen, JSON-serialisable specs naming their trial function by
import path ("package.module:function") and its parameters; a trial's id is a short hash of
its canonical JSON. `run_sweep` writes each trial's result atomically to
`<sweep_dir>/trials/<id>.json`, skips trials whose result is already there (resume after an
interruption loses nothing finished), retries failing trials a bounded number of times,
records the last failure with its traceback, and shows a progress bar.

Executors decide where trials run (`LocalExecutor`: in-process or a process pool); another
backend (e.g. Ray) is one new module implementing `Executor`.
"""

from tinydeploy.sweep.executor import Executor, LocalExecutor, execute_trial
from tinydeploy.sweep.runner import SweepSummary, load_results, run_sweep
from tinydeploy.sweep.spec import Trial, canonical_json, grid

__all__ = [
    "Executor",
    "LocalExecutor",
    "SweepSummary",
    "Trial",
    "canonical_json",
    "execute_trial",
    "grid",
    "load_results",
    "run_sweep",
]
