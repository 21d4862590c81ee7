"""tinydeploy as users install it: build the wheel, install it into a fresh virtualenv outside
the checkout, and use it from an empty directory (doctor, boards, train -> export -> firmware
build + QEMU run). Everything the firmware needs must come from the installed package data.

The new venv reuses the heavy dependencies already installed in the test's environment
(a .pth line naming its site-packages), so the test is offline and fast; tinydeploy itself
comes only from the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.firmware, pytest.mark.slow]


def _sources(dest: Path) -> Path:
    """The files git would ship (tracked + new, not ignored), copied: no stale build/ dirs."""
    names = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, names):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("wheel")
    src = _sources(root / "src")
    dist = root / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "-w", str(dist), str(src)], check=True)
    (wheel,) = dist.glob("tinydeploy-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps",
                    "--no-index", "-q", str(wheel)], check=True)
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], check=True, capture_output=True,
                               text=True).stdout.strip())
    (site / "_reuse_test_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = root / "empty"
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TINYDEPLOY_", "PYTHONPATH", "VIRTUAL_ENV"))}
    env.update(XDG_CACHE_HOME=str(root / "cache"), TINYDEPLOY_DATA=os.environ["TINYDEPLOY_DATA"],
               PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    return {"wheel": wheel, "venv": venv, "site": site, "cwd": work, "env": env}


def _td(installed: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    exe = installed["venv"] / "bin" / "tinydeploy"
    return subprocess.run([str(exe), *args], cwd=installed["cwd"], env=installed["env"],
                          capture_output=True, text=True, timeout=timeout)


def test_wheel_ships_the_package_data(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    for required in ("tinydeploy/resources/firmware/platformio.ini",
                     "tinydeploy/resources/firmware/lib/tdnn/include/tdnn.h",
                     "tinydeploy/resources/firmware/platform/builder/main.py",
                     "tinydeploy/resources/firmware/tools/td_sources.py",
                     "tinydeploy/resources/boards/qemu-m4.toml",
                     "tinydeploy/resources/firmware/src/port_stm32.c",
                     "tinydeploy/resources/firmware/platform/boards/netduinoplus2.json",
                     "tinydeploy/resources/firmware/platform/ldscripts/stm32f405rg.ld",
                     "tinydeploy/resources/boards/netduinoplus2.toml",
                     "tinydeploy/resources/cost_models/cortex-m4.json",
                     "tinydeploy/pipeline/default.toml"):
        assert required in names, required
    assert not [n for n in names if "__pycache__" in n or ".pio" in n]


def test_installed_package_is_the_wheel_not_the_checkout(installed):
    py = installed["venv"] / "bin" / "python"
    where = subprocess.run(
        [str(py), "-c", "import tinydeploy.resources as r; print(r.firmware_dir())"],
        cwd=installed["cwd"], env=installed["env"], capture_output=True, text=True, check=True)
    firmware = Path(where.stdout.strip())
    assert firmware.is_relative_to(installed["site"]) and not firmware.is_relative_to(REPO)


def test_doctor_and_boards_from_an_empty_directory(installed):
    doctor = _td(installed, "doctor", "--json")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    findings = json.loads(doctor.stdout)
    assert all(f["ok"] for f in findings if f["required"])
    assert {"cross compiler", "newlib nano (C library)", "QEMU", "board qemu-m4",
            "PlatformIO core"} <= {f["topic"] for f in findings}
    boards = _td(installed, "firmware", "boards")
    assert boards.returncode == 0, boards.stderr
    assert "qemu-m4" in boards.stdout and "nucleo_f446re" in boards.stdout


def test_train_export_and_run_on_qemu_from_the_wheel(installed):
    steps = [
        ("train", "--dataset", "mnist", "--epochs", "1", "--train-limit", "2000",
         "--val-size", "500", "--out", "ckpt"),
        ("export", "--checkpoint", "ckpt/model", "--to", "tflite", "--calib-images", "32",
         "--eval-limit", "100", "--out", "exp"),
        ("firmware", "run", "--board", "qemu-m4", "--tflite", "exp/model_int8.tflite",
         "--format", "csr", "--samples", "10", "--out", "fw"),
    ]
    for args in steps:
        proc = _td(installed, *args)
        assert proc.returncode == 0, f"{args[0]}: {proc.stdout[-2000:]}{proc.stderr[-3000:]}"
    cwd = installed["cwd"]
    report = json.loads((cwd / "fw" / "bench.json").read_text())
    assert report["status"] == "ok" and report["measured"]["images"] == 10
    assert report["measured"]["expected_outputs"]["mismatch_images"] == 0
    # the generated PlatformIO project lives in the run directory; nothing was written into
    # the installed package
    assert (cwd / "fw" / "project" / "platformio.ini").is_file()
    pkg = installed["site"] / "tinydeploy" / "resources" / "firmware"
    assert not list(pkg.glob(".pio*")) and not (pkg / "project").exists()
