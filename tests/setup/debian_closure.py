"""Which Debian packages does a command really use, and does scripts/setup-system.sh cover them?

The pieces, each usable on its own:

* `setup_packages` reads the PACKAGES=( ... ) array of scripts/setup-system.sh (the single
  source of the list);
* `read_dpkg_table` + `allowed_closure` compute, offline from the dpkg database, every
  installed package that list pulls in through Depends / Pre-Depends (not Recommends: the
  script installs with --no-install-recommends), plus what every Debian system has
  (Essential: yes, Priority: required, and their dependencies);
* `trace_command` + `parse_trace` run a command under strace and attribute each executed
  binary and each successfully opened file to the executable of the process that opened it;
* `packages_used` maps the files read by Debian-owned tools (not by the project's Python,
  whose own reads are pip's business) to their packages with `dpkg -S`;
* `uncovered` names the used packages outside the allowed closure.

Run by hand: python tests/setup/debian_closure.py -- CMD [ARGS...]
"""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SETUP_SCRIPT = REPO / "scripts" / "setup-system.sh"
STRACE = "/usr/bin/strace"
# execve/open* are the inputs; the process-creation calls tell which executable a new pid
# (a forked child or a thread, which opens files before or without any execve) runs.
TRACED_SYSCALLS = "execve,execveat,openat,open,clone,clone3,fork,vfork"
DPKG_FIELDS = ("Package", "db:Status-Abbrev", "Essential", "Priority", "Pre-Depends",
               "Depends", "Provides")
DPKG_FORMAT = "\t".join(f"${{{name}}}" for name in DPKG_FIELDS) + "\n"
# dpkg status letters (second column of Status-Abbrev) for which the files are on disk.
ON_DISK = frozenset("iUFWth")
ALWAYS_IGNORED = ("/tmp", "/proc", "/sys", "/dev")
USRMERGE_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
DPKG_BATCH = 400
# Files a tool reads only because they happen to be installed: without their package the tool
# does the same job. They are not charged to their package (each entry says why).
INCIDENTAL: dict[str, str] = {
    "/usr/share/locale/locale.alias": "glibc reads the alias table of `locales` if present; "
                                      "without it the C.UTF-8 locale of libc-bin is used",
    "/etc/locale.alias": "the same table (its real path)",
    "/usr/share/fonts/*": "fontconfig scans every installed font; fontconfig-config depends on "
                          "one (fonts-dejavu-core), which is all the rendering needs",
    "/usr/lib/bfd-plugins/*": "GNU bfd (ld, nm, size) loads every plugin installed there; the "
                              "build's LTO plugin is gcc's own, passed with -plugin",
    "*/libLLVM-*.so*": "the library of LLVM's bfd plugin above, loaded only with it",
    "/usr/bin/xdg-user-dir": "PlatformIO asks it for the Documents folder; without "
                             "xdg-user-dirs it falls back to ~/Documents",
}


# ---- the package list -------------------------------------------------------------------

def parse_packages_array(script_text: str) -> list[str]:
    """The words of the PACKAGES=( ... ) array in a bash script (comments dropped)."""
    # comments first: they may hold parentheses of their own
    code = "\n".join(line.split("#", 1)[0] for line in script_text.splitlines())
    match = re.search(r"^PACKAGES=\((.*?)\)", code, re.S | re.M)
    if match is None:
        raise ValueError("no PACKAGES=( ... ) array in the script")
    return match.group(1).split()


def setup_packages(script: Path = SETUP_SCRIPT) -> list[str]:
    """The Debian packages scripts/setup-system.sh installs."""
    return parse_packages_array(script.read_text())


# ---- the dpkg database and the dependency closure ---------------------------------------

@dataclass
class PackageInfo:
    """One installed package: what it needs (Pre-Depends + Depends) and what it provides.

    `depends` is a list of clauses; a clause lists the alternatives of `a | b`.
    """

    name: str
    essential: bool = False
    priority: str = ""
    depends: list[list[str]] = field(default_factory=list)
    provides: list[str] = field(default_factory=list)


def _bare_name(item: str) -> str:
    """`libc6:amd64 (>= 2.36) [amd64] <!nocheck>` -> `libc6`."""
    item = re.sub(r"\(.*?\)|\[.*?\]|<.*?>", " ", item).strip()
    return item.split(":", 1)[0].strip()


def parse_relations(value: str) -> list[list[str]]:
    """A Depends-style field as clauses of alternatives, qualifiers and versions stripped."""
    clauses = []
    for clause in value.split(","):
        names = [_bare_name(alt) for alt in clause.split("|")]
        names = [n for n in names if n]
        if names:
            clauses.append(names)
    return clauses


def parse_dpkg_table(text: str) -> dict[str, PackageInfo]:
    """Parse `dpkg-query -W -f=DPKG_FORMAT` output; packages not on disk are dropped.

    Several architectures of one package are merged into one entry.
    """
    table: dict[str, PackageInfo] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, status, essential, priority, pre, dep, provides = (line.split("\t") + [""] * 7)[:7]
        if len(status) < 2 or status[1] not in ON_DISK:
            continue
        info = table.setdefault(name, PackageInfo(name))
        info.essential = info.essential or essential.strip() == "yes"
        info.priority = info.priority or priority.strip()
        info.depends += parse_relations(pre) + parse_relations(dep)
        info.provides += [alt for clause in parse_relations(provides) for alt in clause]
    return table


def read_dpkg_table() -> dict[str, PackageInfo]:
    """The installed packages, read from the local dpkg database (offline)."""
    out = subprocess.run(["dpkg-query", "-W", f"-f={DPKG_FORMAT}"], capture_output=True,
                         text=True, check=True).stdout
    return parse_dpkg_table(out)


def providers(table: Mapping[str, PackageInfo]) -> dict[str, set[str]]:
    """Name (real or virtual) -> the installed packages that satisfy it."""
    by_name: dict[str, set[str]] = defaultdict(set)
    for info in table.values():
        by_name[info.name].add(info.name)
        for virtual in info.provides:
            by_name[virtual].add(info.name)
    return dict(by_name)


def baseline(table: Mapping[str, PackageInfo]) -> set[str]:
    """Packages every Debian system has: Essential: yes or Priority: required."""
    return {p.name for p in table.values() if p.essential or p.priority == "required"}


def dependency_closure(roots: Iterable[str], table: Mapping[str, PackageInfo]) -> set[str]:
    """Installed packages reachable from `roots` through Pre-Depends/Depends.

    Every installed alternative of `a | b` counts, virtual names go through Provides.
    """
    by_name = providers(table)
    todo = [p for root in roots for p in by_name.get(root, ())]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for clause in table[name].depends:
            todo += [p for alt in clause for p in by_name.get(alt, ())]
    return seen


def allowed_closure(packages: Iterable[str], table: Mapping[str, PackageInfo]) -> set[str]:
    """What a machine set up with `packages` has: their closure plus the baseline's."""
    return dependency_closure([*packages, *baseline(table)], table)


def not_installed(packages: Iterable[str], table: Mapping[str, PackageInfo]) -> list[str]:
    """The listed packages that nothing installed satisfies (setup was not run)."""
    by_name = providers(table)
    return [p for p in packages if p not in by_name]


# ---- tracing ----------------------------------------------------------------------------

@dataclass
class _Segment:
    """What one pid runs between two execve calls; `exe` None = inherited from `source`."""

    exe: str | None
    source: _Segment | None = None
    files: set[str] = field(default_factory=set)

    def resolve(self) -> str | None:
        seg: _Segment | None = self
        for _ in range(10_000):  # a fork chain, never a cycle; bounded all the same
            if seg is None or seg.exe is not None:
                return None if seg is None else seg.exe
            seg = seg.source
        return None


@dataclass
class Trace:
    """Executed binaries and, per executable, the files its processes opened."""

    executed: set[str] = field(default_factory=set)
    opened: dict[str, set[str]] = field(default_factory=dict)
    lines: int = 0

    def merge(self, other: Trace) -> Trace:
        """Both traces as one."""
        opened = {exe: set(files) for exe, files in self.opened.items()}
        for exe, files in other.opened.items():
            opened.setdefault(exe, set()).update(files)
        return Trace(self.executed | other.executed, opened, self.lines + other.lines)


_LINE = re.compile(r"^(\d+)\s+(.*)$")
_RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$")
_RESULT = re.compile(r"\)\s+=\s+(-?\d+)(?:<(.*)>)?(?:\s+E[A-Z0-9]+\b.*|\s+\(.*\))?$")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_CWD = re.compile(r"^\w+\(AT_FDCWD<(.*?)>,")
_DIRFD = re.compile(r"^\w+\(\d+<(.*?)>,")
_SPAWN = ("clone", "clone3", "fork", "vfork")
_EXEC = ("execve", "execveat")
_OPEN = ("open", "openat")


def unescape(text: str) -> str:
    """Undo strace's C-style string escaping (octal / hex bytes, \\n, \\", \\\\)."""
    if "\\" not in text:
        return text
    raw = text.encode("latin-1", "backslashreplace").decode("unicode_escape")
    return raw.encode("latin-1").decode("utf-8", "surrogateescape")


def interpreter(path: str) -> str | None:
    """The `#!` interpreter of a script, or None for a binary."""
    try:
        with open(path, "rb") as fh:
            head = fh.readline(256)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    words = head[2:].decode("utf-8", "surrogateescape").split()
    return words[0] if words else None


class _TraceParser:
    """Replays an `strace -f -y` log line by line, pid by pid."""

    def __init__(self, cwd: str) -> None:
        self.start_cwd = cwd
        self.current: dict[int, _Segment] = {}
        self.first: dict[int, _Segment] = {}
        self.segments: list[_Segment] = []
        self.pending: dict[int, tuple[str, _Segment]] = {}
        self.cwd: dict[int, str] = {}
        self.executed: set[str] = set()
        self.lines = 0

    def segment(self, pid: int) -> _Segment:
        """The pid's current segment (a new, still anonymous one for a pid not seen yet)."""
        if pid not in self.current:
            self.current[pid] = self.first[pid] = _Segment(None)
            self.segments.append(self.current[pid])
        return self.current[pid]

    def feed(self, line: str) -> None:
        """One log line; a call split by other pids' lines is joined when it resumes."""
        self.lines += 1
        match = _LINE.match(line.rstrip("\n"))
        if match is None:
            return
        pid, text = int(match.group(1)), match.group(2)
        if text.startswith(("+++", "---")):
            return
        if text.endswith("<unfinished ...>"):
            self.pending[pid] = (text[: -len("<unfinished ...>")].rstrip(), self.segment(pid))
            return
        resumed = _RESUMED.match(text)
        if resumed:
            start = self.pending.pop(pid, None) or self._orphan(resumed.group(1))
            if start is None:
                return
            self.call(pid, start[0] + resumed.group(2), start[1])
        else:
            self.call(pid, text, self.segment(pid))

    def _orphan(self, name: str) -> tuple[str, _Segment] | None:
        """An execve resumed under another pid (a thread exec'd: it took the leader's pid)."""
        for pid, (text, seg) in list(self.pending.items()):
            if name in _EXEC and text.startswith(name + "("):
                del self.pending[pid]
                return text, seg
        return None

    def call(self, pid: int, text: str, at_start: _Segment) -> None:
        """A complete, successful call; `at_start` is the segment the call started in."""
        name = text.split("(", 1)[0]
        result = _RESULT.search(text)
        if result is None or int(result.group(1)) < 0:
            return
        if cwd := _CWD.match(text):
            self.cwd[pid] = unescape(cwd.group(1))
        if name in _SPAWN:
            child = int(result.group(1))
            self.cwd.setdefault(child, self.cwd.get(pid, self.start_cwd))
            self.spawned(child, at_start)
        elif name in _EXEC:
            self.exec(pid, text, at_start)
        elif name in _OPEN:
            path = self.path_of(pid, text, result.group(2))
            if path:
                self.segment(pid).files.add(path)

    def spawned(self, child: int, parent: _Segment) -> None:
        """A new pid (process or thread) runs its parent's executable until it execs."""
        first = self.first.get(child) or self.segment(child)
        if first.exe is None and first.source is None:
            first.source = parent

    def exec(self, pid: int, text: str, before: _Segment) -> None:
        """A successful execve: the pid runs a new executable (a script: its interpreter)."""
        arg = _STRING.search(text)
        if arg is None:
            return
        path = self.absolute(pid, unescape(arg.group(1)), text)
        if path == "/proc/self/exe":  # re-exec of itself (chromium's child processes)
            new = _Segment(None, source=before)
        else:
            self.executed.add(path)
            exe = path
            for _ in range(4):  # a script runs its #! interpreter (which may be a script)
                inner = interpreter(exe)
                if inner is None:
                    break
                exe = inner
                self.executed.add(exe)
            new = _Segment(exe)
        self.current[pid] = new
        self.segments.append(new)

    def absolute(self, pid: int, path: str, text: str) -> str:
        """`path` made absolute against the call's dirfd or the pid's working directory."""
        if path.startswith("/"):
            return os.path.normpath(path)
        base = _DIRFD.match(text)
        base_dir = unescape(base.group(1)) if base else self.cwd.get(pid, self.start_cwd)
        return os.path.normpath(os.path.join(base_dir, path))

    def path_of(self, pid: int, text: str, fd_path: str | None) -> str | None:
        """The opened file: the path as given when absolute, else the fd's path (-y)."""
        arg = _STRING.search(text)
        if arg and arg.group(1).startswith("/"):
            return os.path.normpath(unescape(arg.group(1)))
        if fd_path and fd_path.startswith("/"):
            return unescape(fd_path)
        return self.absolute(pid, unescape(arg.group(1)), text) if arg else None

    def trace(self) -> Trace:
        """Everything fed so far, opens grouped by executable ("?" when unknown)."""
        opened: dict[str, set[str]] = {}
        for seg in self.segments:
            if seg.files:
                opened.setdefault(seg.resolve() or "?", set()).update(seg.files)
        return Trace(self.executed, opened, self.lines)


def parse_trace(lines: Iterable[str], cwd: str | None = None) -> Trace:
    """Successful execs and opens of an `strace -f -y` log, opens grouped by executable.

    `cwd` is where the traced command started (relative paths before any open show it).
    """
    parser = _TraceParser(cwd or os.getcwd())
    for line in lines:
        parser.feed(line)
    return parser.trace()


def strace_command(cmd: list[str], log: Path) -> list[str]:
    """`cmd` under strace: follow forks, quiet, only execs/opens/spawns, fds shown as paths."""
    return [STRACE, "-f", "-qq", "-y", "-e", f"trace={TRACED_SYSCALLS}", "-o", str(log), *cmd]


def trace_command(cmd: list[str], log: Path,
                  **run_kwargs: Any) -> tuple[Trace, subprocess.CompletedProcess[Any]]:
    """Run `cmd` under strace (log in `log`) and parse the log; `run_kwargs` go to run()."""
    proc = subprocess.run(strace_command(cmd, log), **run_kwargs)
    with log.open(encoding="utf-8", errors="surrogateescape") as fh:
        return parse_trace(fh, str(run_kwargs.get("cwd") or os.getcwd())), proc


# ---- files -> packages ------------------------------------------------------------------

def parse_dpkg_search(text: str) -> dict[str, set[str]]:
    """`dpkg -S` output -> path -> owning packages (diversion notes skipped)."""
    owners: dict[str, set[str]] = defaultdict(set)
    for line in text.splitlines():
        if line.startswith("diversion by") or ": " not in line:
            continue
        pkgs, path = line.split(": ", 1)
        owners[path.strip()].update(p.strip().split(":", 1)[0] for p in pkgs.split(","))
    return dict(owners)


def dpkg_search(paths: Iterable[str]) -> dict[str, set[str]]:
    """Owning packages of each path, by batched `dpkg -S` (absent and unowned paths omitted)."""
    # dpkg -S treats * ? [ \ as a pattern, not a file name: those paths are not asked about
    todo = sorted({p for p in paths if p.startswith("/") and not re.search(r"[*?\[\\]", p)})
    owners: dict[str, set[str]] = {}
    for i in range(0, len(todo), DPKG_BATCH):
        proc = subprocess.run(["dpkg", "-S", *todo[i:i + DPKG_BATCH]], capture_output=True,
                              text=True, errors="surrogateescape")
        owners.update(parse_dpkg_search(proc.stdout))
    return owners


def path_variants(path: str) -> set[str]:
    """The path as opened, its real path, and their /lib <-> /usr/lib (usrmerge) twins."""
    variants = set()
    for p in {path, os.path.realpath(path)}:
        variants.add(p)
        for top in USRMERGE_DIRS:
            if p.startswith(f"/{top}/"):
                variants.add("/usr" + p)
            elif p.startswith(f"/usr/{top}/"):
                variants.add(p[len("/usr"):])
    return variants


def owners_of(paths: Iterable[str]) -> dict[str, set[str]]:
    """Path -> the packages owning it under any of its variants (unowned paths omitted)."""
    variants = {p: path_variants(p) for p in paths}
    found = dpkg_search(v for vs in variants.values() for v in vs)
    result = {p: set().union(*(found.get(v, set()) for v in vs)) for p, vs in variants.items()}
    return {p: pkgs for p, pkgs in result.items() if pkgs}


def default_ignored() -> list[str]:
    """Trees never charged to Debian: repo, venv, temp/virtual file systems, PlatformIO core."""
    dirs = [str(REPO), sys.prefix, tempfile.gettempdir(), *ALWAYS_IGNORED]
    for var in ("TINYDEPLOY_PIO_CORE_DIR", "PLATFORMIO_CORE_DIR"):
        if os.environ.get(var):
            dirs.append(os.environ[var])
    dirs.append(str(Path.home() / ".platformio"))
    return sorted({os.path.realpath(d) for d in dirs} | set(dirs))


def python_executables() -> set[str]:
    """The project's Python: its processes' own reads are pip's business, not Debian's."""
    exes = {sys.executable, getattr(sys, "_base_executable", sys.executable)}
    return {os.path.realpath(e) for e in exes}


def is_ignored(path: str, ignored: Iterable[str]) -> bool:
    """Whether `path` lies in one of the `ignored` trees."""
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in ignored)


def input_files(trace: Trace, exe_owners: Mapping[str, set[str]],
                python: Iterable[str]) -> set[str]:
    """Executed binaries plus the files opened by Debian-owned, non-Python executables."""
    python = set(python)
    files = set(trace.executed)
    for exe, opened in trace.opened.items():
        if exe in exe_owners and os.path.realpath(exe) not in python:
            files |= opened
    return files


def packages_used(trace: Trace, ignored: Iterable[str] | None = None,
                  python: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Package -> the files of it that the traced Debian tools executed or read."""
    ignored = default_ignored() if ignored is None else list(ignored)
    python = python_executables() if python is None else python
    exe_owners = owners_of(e for e in trace.opened if e.startswith("/"))
    files = {f for f in input_files(trace, exe_owners, python)
             if not is_ignored(f, ignored) and os.path.lexists(f) and not os.path.isdir(f)}
    used: dict[str, set[str]] = defaultdict(set)
    for path, pkgs in owners_of(files).items():
        for pkg in pkgs:
            used[pkg].add(path)
    return {pkg: sorted(paths) for pkg, paths in sorted(used.items())}


def without_incidental(used: Mapping[str, list[str]],
                       patterns: Iterable[str] = INCIDENTAL) -> dict[str, list[str]]:
    """`used` without the INCIDENTAL files; packages left with no file drop out."""
    patterns = list(patterns)
    kept = {pkg: [f for f in files if not any(fnmatch.fnmatchcase(f, p) for p in patterns)]
            for pkg, files in used.items()}
    return {pkg: files for pkg, files in kept.items() if files}


def uncovered(packages_used: Mapping[str, list[str]], allowed: Iterable[str],
              examples: int = 3) -> dict[str, list[str]]:
    """The used packages outside `allowed`, each with a few example files (shortest first)."""
    allowed = set(allowed)
    return {pkg: sorted(files, key=lambda f: (len(f), f))[:examples]
            for pkg, files in sorted(packages_used.items()) if pkg not in allowed}


def describe(missing: Mapping[str, list[str]], script: Path = SETUP_SCRIPT) -> str:
    """A failure message: each package, an example file, and where to add it."""
    try:
        where = script.relative_to(REPO)
    except ValueError:
        where = script
    lines = [f"{len(missing)} Debian package(s) used but not installed by {where}:"]
    lines += [f"  {pkg}  (e.g. {files[0]})" for pkg, files in missing.items()]
    lines.append(f"add them to the PACKAGES list in {where} (or stop using them)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python tests/setup/debian_closure.py -- CMD...`: trace CMD, print the report."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print("usage: python tests/setup/debian_closure.py -- CMD [ARGS...]", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="td-closure-") as tmp:
        trace, proc = trace_command(args, Path(tmp) / "strace.log")
    table = read_dpkg_table()
    allowed = allowed_closure(setup_packages(), table)
    used = packages_used(trace)
    counted = without_incidental(used)
    print(f"traced {trace.lines} lines; command exit {proc.returncode}")
    for pkg, files in used.items():
        mark = "ok " if pkg in allowed else "NO " if pkg in counted else "-- "
        print(f"{mark} {pkg:40s} {len(files):5d} file(s), e.g. {files[0]}")
    print("(-- = only incidental files, see INCIDENTAL)")
    missing = uncovered(counted, allowed)
    if missing:
        print(describe(missing))
        return 1
    print(f"all {len(used)} package(s) are covered by {SETUP_SCRIPT.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
