"""Imports run one way: no two tuitune packages (or modules) import each other, and the layers contract is kept.

The graph is grimp's, the one import-linter checks: every import a module makes counts, those inside functions too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import grimp
import pytest

import tuitune

ROOT = Path(__file__).resolve().parents[1]
Edges = dict[tuple[str, str], tuple[str, str]]  # (importer, imported) -> one module import that makes it


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    assert Path(tuitune.__file__).resolve().is_relative_to(ROOT), f"tuitune is imported from {tuitune.__file__}"
    return grimp.build_graph("tuitune", cache_dir=None)


def package_of(module: str) -> str:
    """``tuitune.data.concepts`` -> ``tuitune.data``; a top-level module (``tuitune.errors``) stands for itself."""
    return ".".join(module.split(".")[:2])


def imports_between(graph: grimp.ImportGraph, unit: Callable[[str], str]) -> Edges:
    """Which ``unit`` (package, or module itself) imports which, each with the first module import that does."""
    edges: Edges = {}
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if unit(module) != unit(imported):
                edges.setdefault((unit(module), unit(imported)), (module, imported))
    return edges


def cycles(edges: Edges) -> list[str]:
    """One line per pair that reach each other along ``edges``, naming the imports of the way there and back."""
    after: dict[str, set[str]] = {}
    for a, b in edges:
        after.setdefault(a, set()).add(b)
        after.setdefault(b, set())

    def way(start: str, goal: str) -> list[str] | None:  # breadth first: the shortest chain of imports
        came_from: dict[str, str] = {}
        todo = [start]
        while todo:
            node = todo.pop(0)
            for nxt in sorted(after[node]):
                if nxt in came_from or nxt == start:
                    continue
                came_from[nxt] = node
                if nxt == goal:
                    chain = [goal]
                    while chain[-1] != start:
                        chain.append(came_from[chain[-1]])
                    return chain[::-1]
                todo.append(nxt)
        return None

    def told(chain: list[str]) -> str:
        return ", ".join(" imports ".join(edges[(a, b)]) for a, b in zip(chain, chain[1:], strict=False))

    reach = {}
    for start in after:
        seen, todo = set(), [start]
        while todo:
            for nxt in after[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        reach[start] = seen
    lines = []
    for a in sorted(after):
        for b in sorted(n for n in reach[a] if n > a and a in reach[n]):
            lines.append(f"{a} <-> {b}: {told(way(a, b) or [])}; {told(way(b, a) or [])}")
    return lines


def test_no_two_tuitune_packages_import_each_other(graph: grimp.ImportGraph) -> None:
    packages = {package_of(m) for m in graph.modules}
    assert {"tuitune.cli", "tuitune.data", "tuitune.project", "tuitune.train", "tuitune.ui"} <= packages
    found = cycles(imports_between(graph, package_of))
    assert found == [], "packages that import each other:\n" + "\n".join(found)


def test_no_two_tuitune_modules_import_each_other(graph: grimp.ImportGraph) -> None:
    found = cycles(imports_between(graph, lambda module: module))
    assert found == [], "modules that import each other:\n" + "\n".join(found)


def test_a_cycle_is_named_by_its_pair_and_the_imports_each_way() -> None:
    graph = grimp.ImportGraph()
    for importer, imported in [("pkg.a.x", "pkg.b.y"), ("pkg.b.z", "pkg.c.w"), ("pkg.c.w", "pkg.a.q"),
                               ("pkg.c.w", "pkg.d.e")]:
        graph.add_import(importer=importer, imported=imported)
    assert cycles(imports_between(graph, package_of)) == [
        "pkg.a <-> pkg.b: pkg.a.x imports pkg.b.y; pkg.b.z imports pkg.c.w, pkg.c.w imports pkg.a.q",
        "pkg.a <-> pkg.c: pkg.a.x imports pkg.b.y, pkg.b.z imports pkg.c.w; pkg.c.w imports pkg.a.q",
        "pkg.b <-> pkg.c: pkg.b.z imports pkg.c.w; pkg.c.w imports pkg.a.q, pkg.a.x imports pkg.b.y",
    ]
    assert cycles(imports_between(graph, lambda module: module)) == []  # no module comes back to itself


def test_the_layers_contract_lists_every_package_without_exceptions_and_lint_imports_keeps_it() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")
    assert layers["containers"] == ["tuitune"] and layers["exhaustive"] is True
    assert not any("ignore_imports" in c for c in config["contracts"])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    code = "from importlinter.cli import lint_imports; raise SystemExit(lint_imports('pyproject.toml', no_cache=True, no_logo=True))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    report = " ".join(result.stdout.split())
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert f"{' '.join(layers['name'].split())} KEPT" in report and " 0 broken" in report
