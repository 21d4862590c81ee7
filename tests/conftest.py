"""Shared test set-up: tests read datasets from ../shared/datasets (or $TINYDEPLOY_DATA) and
never touch the network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "datasets"


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("TINYDEPLOY_DATA", str(DEFAULT_DATA))
    # A private cache so tests never see (or download into) the user's cache.
    os.environ.setdefault("XDG_CACHE_HOME", str(REPO / "build" / "test-cache"))
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # `make test` runs one pytest worker per core: each computes on one thread (and so
        # do the processes it starts), or the workers' torch threads fight for the cores.
        os.environ["OMP_NUM_THREADS"] = "1"
        import torch

        torch.set_num_threads(1)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ["TINYDEPLOY_DATA"])
    if not (path / "mnist").is_dir():
        pytest.fail(f"test datasets not found in {path}; set TINYDEPLOY_DATA")
    return path


@pytest.fixture(scope="session")
def mnist(data_dir: Path):
    from tinydeploy.data import load_dataset

    return load_dataset("mnist", data_dir)


#: test folders whose modules share one xdist worker: the sweep tests start local Ray
#: instances and signal their own process groups, one at a time
SERIAL_FOLDERS = ("tests/sweep/",)


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: absent without the plugin
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Under `pytest -n N --dist loadfile` (make test) a module's tests run on one worker, so
    its module- and session-scoped fixtures (trained models, firmware runs) are computed once
    per worker that needs them; the modules of SERIAL_FOLDERS also share one worker. Modules
    are handed out in collection order, which puts the slow ones first (below)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    config.option.loadscopereorder = False  # xdist's default: most tests first, not slowest

    class ModuleScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return next((f for f in SERIAL_FOLDERS if nodeid.startswith(f)),
                        super()._split_scope(nodeid))

    return ModuleScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On xdist workers: modules with `slow` tests (minutes of training or QEMU) first, so
    no worker starts one of them while the other is about to finish."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        slow = {_module(i) for i in items if i.get_closest_marker("slow")}
        items.sort(key=lambda i: _module(i) not in slow)  # stable: same order within each


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    """Lines tests asked to show after the run (`record_property("summary", line)`), e.g.
    the flash and RAM of the offline firmware builds of the real boards."""
    lines = [value for report in terminalreporter.stats.get("passed", [])
             for key, value in getattr(report, "user_properties", []) if key == "summary"]
    if lines:
        terminalreporter.section("summary lines from the tests")
        for line in lines:
            terminalreporter.write_line(line)


#: folders whose tests build or run C (kernels, sanitizers, firmware): under
#: TINYDEPLOY_REQUIRE_FIRMWARE=1 a skip there is reported as a failure, whatever skipped it
NO_SKIP_FOLDERS = ("kernels", "firmware")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    outcome = yield
    report = outcome.get_result()
    folder = Path(str(item.fspath)).parent.name
    if (report.skipped and os.environ.get("TINYDEPLOY_REQUIRE_FIRMWARE") == "1"
            and (folder in NO_SKIP_FOLDERS or "firmware" in item.keywords)):
        report.outcome = "failed"
        report.longrepr = (f"{item.nodeid} skipped ({report.longrepr}) with "
                           "TINYDEPLOY_REQUIRE_FIRMWARE=1: kernel and firmware tests must run")
