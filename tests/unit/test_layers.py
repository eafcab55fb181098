"""The import graph of the project's packages: layers only import downwards, and no module
imports itself back through others (a cycle), even from inside a function.

Layers, bottom up: ``kafka_io`` and ``schemas`` (they import nothing of the project),
``learning`` (the pure core), ``tables``, ``agents``, ``app``; the tools above them all
(``harness``, ``demo``, ``bench``) and ``localkafka`` (stand-alone) are not layered.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = {"kafka_io": 0, "schemas": 0, "learning": 1, "tables": 2, "agents": 3, "app": 4}
STANDALONE = {"localkafka"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for package in (*LAYERS, *STANDALONE)
            for p in (ROOT / package).rglob("*.py")}


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules `name` imports, at any depth of its code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import sub` imports the submodule `pkg.sub` when there is one.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: imports_of(name, path, project_modules())
         for name, path in project_modules().items()}


def layer(module: str) -> int | None:
    return LAYERS.get(module.split(".")[0])


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if layer(m) is not None))
def test_no_import_runs_up_the_layers(module):
    upward = sorted(t for t in GRAPH[module]
                    if layer(t) is None or layer(t) > layer(module)
                    or (layer(t) == layer(module) == 0
                        and t.split(".")[0] != module.split(".")[0]))
    assert upward == [], f"{module} imports above its layer: {upward}"


def test_no_import_cycles():
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(GRAPH.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(GRAPH):
        if node not in state:
            visit(node, [])
    # A package's __init__ re-exporting its modules is not a cycle with them.
    real = [c for c in cycles if not any(a == b.rpartition(".")[0] or b == a.rpartition(".")[0]
                                         for a, b in zip(c, c[1:]))]
    assert real == []


def test_the_graph_sees_function_level_and_relative_imports():
    assert "kafka_io" in GRAPH["app.topics"]
    assert "schemas" in GRAPH["agents.intake"]
    assert "app.settings" in GRAPH["app.topics"]
