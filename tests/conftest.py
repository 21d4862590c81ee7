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
