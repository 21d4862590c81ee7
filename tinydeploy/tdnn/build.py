"""The one host build recipe of the tdnn C library (gcc): the flags, the sources, the cache.

Everything that compiles tdnn for this machine goes through here: the shared library the
host wrapper loads (``build_hostlib``: kernel tests, scratch sizes for the generator), its
sanitizer build, and a generated model compiled into a host executable
(``tinydeploy.codegen.host``). Target (Cortex-M) builds are PlatformIO's and the kernel
benchmark's; they share the sources (``tdnn_sources``), not these flags.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tinydeploy.errors import FirmwareError
from tinydeploy.resources import tdnn_dir

TDNN_DIR = tdnn_dir()
#: C11 for the generated model's alignas; the library itself is also kept C99-clean by the
#: target builds (library.json)
HOST_CFLAGS = (
    "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror",
    "-DTD_VALIDATE_INDICES",  # O(nnz) descriptor index checks, off by default on targets
)  # fmt: skip
SHARED_CFLAGS = ("-fPIC", "-shared")
SANITIZE_CFLAGS = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g")


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/tinydeploy/hostlib (tests point XDG_CACHE_HOME at a private folder)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tinydeploy" / "hostlib"


def tdnn_sources(root: Path = TDNN_DIR) -> list[Path]:
    """All C sources and headers of the library, sorted."""
    return sorted([*root.glob("src/**/*.c"), *root.glob("src/**/*.h"), *root.glob("include/*.h")])


def host_compile_command(sources: Sequence[Path | str], output: Path, *, shared: bool = False,
                         sanitize: bool = False, include_dirs: Sequence[Path] = (),
                         extra_cflags: Sequence[str] = (), cc: str = "gcc") -> list[str]:
    """The gcc command line compiling ``sources`` + the tdnn library into ``output``."""
    flags = [*HOST_CFLAGS, *(SHARED_CFLAGS if shared else ()),
             *(SANITIZE_CFLAGS if sanitize else ()), *extra_cflags]
    includes = [f"-I{d}" for d in (*include_dirs, TDNN_DIR / "include")]
    lib = [str(s) for s in tdnn_sources() if s.suffix == ".c"]
    return [cc, *flags, *includes, *(str(s) for s in sources), *lib, "-o", str(output)]


def compile_host(sources: Sequence[Path | str], output: Path, *, what: str, **kwargs) -> Path:
    """Run ``host_compile_command``; a failure raises naming ``what`` was being built."""
    cc = kwargs.get("cc", "gcc")
    if shutil.which(cc) is None:
        raise FirmwareError(f"host C compiler {cc!r} not found on PATH (install gcc: `make "
                            "setup` or `apt-get install build-essential`)")
    proc = subprocess.run(host_compile_command(sources, output, **kwargs), capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise FirmwareError(f"compiling {what} for the host failed:\n{proc.stderr[-4000:]}")
    return output


def build_hostlib(cache_dir: Path | str | None = None, sanitize: bool = False,
                  extra_sources: Sequence[Path] = (), cc: str = "gcc") -> Path:
    """Compile the library (and ``extra_sources``: kernels of user weight formats) into
    ``<cache_dir>/<hash>/libtdnn.so``, reused while sources and flags are unchanged."""
    extra = sorted(Path(p).resolve() for p in extra_sources)
    digest = hashlib.sha256(" ".join(host_compile_command(
        [], Path("libtdnn.so"), shared=True, sanitize=sanitize, cc=cc)).encode())
    for src in [*tdnn_sources(), *extra]:
        digest.update(str(src).encode())
        digest.update(src.read_bytes())
    out_dir = Path(cache_dir or default_cache_dir()) / digest.hexdigest()[:16]
    lib = out_dir / "libtdnn.so"
    if lib.exists():
        return lib
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f"libtdnn.so.{os.getpid()}.tmp"
    c_files = [p for p in extra if p.suffix == ".c"]
    include_dirs = sorted({p.parent for p in extra})
    compile_host(c_files, tmp, what="the tdnn library", shared=True, sanitize=sanitize,
                 include_dirs=include_dirs, cc=cc)
    tmp.replace(lib)
    return lib


def sanitizer_env(cc: str = "gcc") -> dict[str, str]:
    """Environment for a child Python that loads a sanitizer build via ctypes."""
    libs = []
    for name in ("libasan.so", "libubsan.so"):
        path = subprocess.run(
            [cc, f"-print-file-name={name}"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if os.path.sep not in path:
            raise FirmwareError(f"{cc} does not ship {name}; install libasan/libubsan")
        libs.append(path)
    env = dict(os.environ)
    env["LD_PRELOAD"] = " ".join(libs)
    env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"
    env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1"
    return env
