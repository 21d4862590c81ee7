"""tinydeploy's packages form layers: no package imports one that imports it back.

Imports are read from the source (module level and inside functions alike: a lazy import is
still a dependency), so a cycle fails here before it fails someone's import order.
"""

from __future__ import annotations

import ast
from pathlib import Path

import tinydeploy

ROOT = Path(tinydeploy.__file__).parent


def package_edges() -> dict[str, set[str]]:
    """{package: packages it imports}, for the sub-packages of tinydeploy."""
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    edges: dict[str, set[str]] = {p: set() for p in packages}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).parts
        if len(rel) < 2 or rel[0] not in packages:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "tinydeploy" and len(parts) > 1 and parts[1] in packages \
                        and parts[1] != rel[0]:
                    edges[rel[0]].add(parts[1])
    return edges


def cycles(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Every import a -> b where b also reaches a."""
    def reaches(a: str, b: str) -> bool:
        seen, todo = set(), [a]
        while todo:
            for nxt in edges[todo.pop()]:
                if nxt == b:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    return sorted((a, b) for a in edges for b in edges[a] if reaches(b, a))


def test_no_package_imports_one_that_imports_it_back():
    edges = package_edges()
    assert "codegen" in edges and "tdnn" in edges and edges["codegen"]  # the scan sees them
    assert cycles(edges) == []


def test_the_kernel_library_side_is_below_codegen_and_firmware():
    edges = package_edges()
    assert "tdnn" in edges["codegen"]
    assert not edges["tdnn"] & {"codegen", "firmware", "export", "latency", "pipeline"}
    assert not edges["ir"] & {"codegen", "firmware", "export", "latency", "tdnn"}


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
        ("a", "b"), ("b", "c"), ("c", "a")]
