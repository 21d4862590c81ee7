"""Stop the sweep driver halfway with SIGINT / SIGTERM, then resume: nothing finished is run
again and the final result set is complete."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sweep_helpers import require_ray

HERE = Path(__file__).resolve().parent
N = 8


def _default_sigint() -> None:
    # A test runner started in the background inherits SIGINT ignored, and Python keeps an
    # ignored SIGINT ignored; the driver should see SIGINT as a user at a terminal sends it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _driver(config: Path, options: list[str], out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get(
        "PYTHONPATH", "")])}
    # Own session: the signal goes to the driver only, as from a scheduler or `kill`.
    with out.open("w") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "tinydeploy.cli.main", "sweep", "run", str(config),
             *options, "--quiet"],
            stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            preexec_fn=_default_sigint)


def _done(sweep: Path) -> dict[str, int]:
    """Finished trial files -> mtime (ns)."""
    return {p.name: p.stat().st_mtime_ns for p in (sweep / "trials").glob("*.json")}


@pytest.mark.parametrize(("sig", "options"), [
    (signal.SIGINT, ["--workers", "0"]),
    (signal.SIGTERM, ["--workers", "2"]),
    pytest.param(signal.SIGTERM, ["--executor", "ray", "--ray-cpus", "2"], marks=pytest.mark.slow),
], ids=["sigint-in-process", "sigterm-pool", "sigterm-ray"])
def test_interrupted_driver_resumes_without_rerunning(tmp_path, sig, options, capsys):
    from tinydeploy.cli.main import main

    if "ray" in options:
        require_ray()

    sweep, log = tmp_path / "sweep", tmp_path / "calls.txt"
    config = tmp_path / "slow.toml"
    config.write_text(f"""
fn = "sweep_trialfns:slow_square"
dir = "{sweep}"
[fixed]
log = "{log}"
sleep = 0.4
[grid]
x = {list(range(N))}
""")
    proc = _driver(config, options, tmp_path / "run1.txt")
    try:
        deadline = time.monotonic() + 60
        while len(_done(sweep)) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, (tmp_path / "run1.txt").read_text()
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 130, (tmp_path / "run1.txt").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    first = _done(sweep)
    assert 2 <= len(first) < N, "the driver should have stopped halfway"
    state = json.loads((sweep / "state.json").read_text())
    assert state["status"] == "interrupted" and state["running"] == {}

    assert main(["sweep", "status", str(sweep), "--no-trials"]) == 0
    out = capsys.readouterr().out
    assert f"{N} trials: {len(first)} done, 0 failed, 0 running, {N - len(first)} pending" in out
    assert "driver: interrupted" in out

    # resumed locally (whatever ran first): any executor gives the same trial results
    assert main(["sweep", "run", str(config), "--workers", "2", "-q"]) == 0
    assert f"{N} trials: {len(first)} already done, {N - len(first)} run, 0 failed" \
        in capsys.readouterr().out
    final = _done(sweep)
    assert len(final) == N
    assert {name: final[name] for name in first} == first  # finished files left untouched
    calls = log.read_text().split()
    finished_first = {json.loads((sweep / "trials" / n).read_text())["spec"]["params"]["x"]
                      for n in first}
    for x in finished_first:
        assert calls.count(str(x)) == 1  # completed trials were not rerun
    results = sorted(json.loads(p.read_text())["result"]["y"]
                     for p in (sweep / "trials").glob("*.json"))
    assert results == [x * x for x in range(N)]
