"""Every third-party module tinydeploy imports is declared in pyproject.toml, and the exact
tested set in constraints.txt covers every declared distribution (the Python half of the
set-up guard; tests/setup/test_system_closure.py is the Debian half)."""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "tinydeploy"


def imported_top_level_modules(root: Path) -> dict[str, set[str]]:
    """Top-level module name -> files importing it (absolute imports, at any depth)."""
    found: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(root)))
    return found


def declared_distributions() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values()
                                        for r in extra)]
    return {canonicalize_name(Requirement(r).name) for r in reqs}


def third_party(modules: dict[str, set[str]]) -> dict[str, set[str]]:
    return {m: files for m, files in modules.items()
            if m not in sys.stdlib_module_names and m != "tinydeploy" and m != "__future__"}


def test_every_imported_module_is_declared():
    dists_of = md.packages_distributions()
    declared = declared_distributions()
    modules = third_party(imported_top_level_modules(PACKAGE))
    assert {"torch", "numpy", "typer"} <= set(modules)  # the walk saw real imports
    undeclared = {}
    for module, files in sorted(modules.items()):
        owners = {canonicalize_name(d) for d in dists_of.get(module, [])}
        if not owners:
            undeclared[module] = f"no installed distribution provides it ({sorted(files)[0]})"
        elif not owners & declared:
            undeclared[module] = f"from {sorted(owners)}, imported by {sorted(files)[0]}"
    assert not undeclared, f"declare these in pyproject.toml: {undeclared}"


def test_the_check_catches_an_undeclared_import(tmp_path):
    (tmp_path / "mod.py").write_text("def f():\n    import yaml\n    from rich import print\n")
    modules = third_party(imported_top_level_modules(tmp_path))
    assert set(modules) == {"yaml", "rich"}
    owners = {canonicalize_name(d) for d in md.packages_distributions()["yaml"]}
    assert not owners & declared_distributions()  # PyYAML is not ours: would be reported


def test_constraints_pin_every_declared_distribution():
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line.strip())
        if m:
            pins[canonicalize_name(m.group(1))] = m.group(2)
    missing = sorted(declared_distributions() - set(pins))
    assert not missing, f"constraints.txt has no exact pin for {missing}"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    exact = [r for r in project["dependencies"] if "==" in r]
    assert not exact, f"pyproject.toml must give ranges, not pins: {exact}"
