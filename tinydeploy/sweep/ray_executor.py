"""Run sweep trials as Ray tasks (`pip install 'tinydeploy[ray]'`).

address None starts a private single-node Ray instance on the loopback interface (no
dashboard) and stops it at shutdown; "auto" or "host:port" (or $RAY_ADDRESS through the
CLI) connects to a running cluster, which must have tinydeploy (and whatever the trial
function needs) installed and see the same paths (shared storage) as the driver.

Each trial is one task declaring `cpus_per_trial` CPUs and `gpus_per_trial` GPUs. Ray
re-runs a task whose worker died (`max_retries` system failures); an exception inside the
trial is returned as a failed record and retried by the sweep runner's own bounded retries.
Results stream back as tasks finish (`ObjectRef.future()`).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import socket
import sys
from typing import Any

from tinydeploy.errors import TinydeployError
from tinydeploy.sweep.executor import Executor, default_workers, execute_trial
from tinydeploy.sweep.spec import Trial

MISSING = "Ray is not installed: pip install 'tinydeploy[ray]'"
# Ray binds a single-node instance to the machine's outward address unless this is off.
_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _import_ray(local: bool) -> Any:
    if local:
        # Read by Ray at import; the instance (and its workers) then use 127.0.0.1.
        os.environ.setdefault(_LOOPBACK_ENV, "0")
    try:
        import ray
    except ImportError as exc:
        raise TinydeployError(MISSING) from exc
    if local:
        from ray._private import ray_constants

        # ray may have been imported before the variable was set (e.g. by another test).
        ray_constants.ENABLE_RAY_CLUSTER = False
    return ray


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a host:port nobody listens on (Ray itself keeps retrying for minutes)."""
    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return  # "auto", ray:// client addresses, ...: left to Ray
    hosts = [host]
    if host in ("localhost", "127.0.0.1", "::1"):  # Ray dials this machine's outward address
        with contextlib.suppress(Exception):
            from ray._private.services import get_node_ip_address

            hosts.append(get_node_ip_address())
    for candidate in hosts:
        try:
            socket.create_connection((candidate, int(port)), timeout=timeout).close()
            return
        except OSError:
            continue
    raise TinydeployError(f"no Ray cluster answers at {address} (start one with `ray start "
                          f"--head`, or check --ray-address / $RAY_ADDRESS)")


def _ray_trial(spec: dict[str, Any], threads: int | None, seed: bool,
               cwd: str | None) -> dict[str, Any]:
    """The task body: run where the driver ran (relative paths in trial parameters), when
    that directory exists on this node."""
    if cwd and os.path.isdir(cwd) and os.getcwd() != cwd:
        os.chdir(cwd)
    return execute_trial(spec, threads, seed)


class RayExecutor(Executor):
    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        num_cpus: int | None = None,
        cpus_per_trial: int = 1,
        gpus_per_trial: float = 0.0,
        max_in_flight: int | None = None,
        system_retries: int = 3,
        seed: bool = True,
    ) -> None:
        """max_in_flight: trials submitted at once (None: what the cluster's CPUs/GPUs hold
        now); system_retries: Ray's re-runs of a trial whose worker process died."""
        if cpus_per_trial < 1 or gpus_per_trial < 0:
            raise TinydeployError("cpus per trial must be >= 1 and gpus per trial >= 0")
        self.address = address
        self.cpus_per_trial = cpus_per_trial
        self.gpus_per_trial = gpus_per_trial
        self.seed = seed
        local = address is None
        ray = self._ray = _import_ray(local)
        self._owns = False
        if not ray.is_initialized():
            if local:
                self._init_local(num_cpus or default_workers())
            else:
                _check_reachable(address)
                try:
                    ray.init(address=address, log_to_driver=False)
                except (ConnectionError, ValueError, RuntimeError) as exc:
                    raise TinydeployError(f"cannot connect to Ray at {address!r}: {exc}") from exc
            self._owns = True
        resources = ray.cluster_resources()
        if max_in_flight is None or max_in_flight < 1:
            fits = int(resources.get("CPU", 1) // cpus_per_trial)
            if gpus_per_trial:
                fits = min(fits, int(resources.get("GPU", 0) // gpus_per_trial))
            max_in_flight = max(1, fits)
        self.max_parallel = max_in_flight
        self._cwd = os.getcwd()
        self._remote = ray.remote(_ray_trial).options(
            num_cpus=cpus_per_trial, num_gpus=gpus_per_trial, max_retries=system_retries,
            retry_exceptions=False)
        self._refs: dict[cf.Future, Any] = {}

    def _init_local(self, num_cpus: int) -> None:
        # Workers of a local instance import trial functions like the driver: give them
        # the driver's import path (a pool gets it by fork; Ray workers are fresh processes).
        path = [p for p in sys.path if p and os.path.isdir(p)]
        old = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(
            [*path, *(old.split(os.pathsep) if old else [])]))
        try:
            self._ray.init(address="local", num_cpus=num_cpus, include_dashboard=False,
                           log_to_driver=False)
        finally:
            if old is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = old

    def submit(self, trial: Trial) -> cf.Future:
        ref = self._remote.remote(trial.to_dict(), self.cpus_per_trial, self.seed, self._cwd)
        future = ref.future()
        self._refs[future] = ref
        future.add_done_callback(lambda f: self._refs.pop(f, None))
        return future

    def describe(self) -> str:
        where = self.address or "local instance"
        return (f"ray ({where}, {self.max_parallel} in flight, {self.cpus_per_trial} CPU"
                + (f" + {self.gpus_per_trial:g} GPU" if self.gpus_per_trial else "")
                + " per trial)")

    def shutdown(self, interrupted: bool = False) -> None:
        for ref in list(self._refs.values()):
            with contextlib.suppress(Exception):
                self._ray.cancel(ref, force=True)
        self._refs.clear()
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
        self._owns = False
