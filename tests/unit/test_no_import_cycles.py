"""No two modules of the project import each other, directly or around a loop,
counting every import: at the top, inside functions and under TYPE_CHECKING. A
cycle means two modules share one job; the fix is a third module both use."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("aos_common", "aosiq", "audit_svc", "gateway", "kernel_svc", "policy_svc")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    done: set[str] = set()
    stack: list[str] = []

    def visit(node: str) -> None:
        if node in stack:
            found.append([*stack[stack.index(node):], node])
            return
        if node in done:
            return
        stack.append(node)
        for target in sorted(graph[node]):
            visit(target)
        stack.pop()
        done.add(node)

    for node in sorted(graph):
        visit(node)
    return found


def test_the_graph_sees_imports() -> None:
    graph = import_graph()
    assert "policy_svc.requests" in graph["policy_svc.decisions"]
    assert "kernel_svc.providers.anthropic_provider" in graph["kernel_svc.providers.factory"]


def test_no_import_cycles() -> None:
    # A package's __init__ re-exporting its own modules is not a cycle of jobs.
    graph = {name: {t for t in targets if not name.startswith(f"{t}.")} for name, targets in import_graph().items()}
    assert cycles(graph) == []
