"""Every service package has the same shape (docs/DEVELOPING.md "Layout"):
`__main__.py` is one hand-off to `aos_common.entry.run`, `server.py` wires the
service (`build(config)`, `serve(config)`, `SERVICE`), `config.py` has `load()`,
`service.py` holds a backend's servicers, and `store.py` is the only module
that talks to PostgreSQL."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from aos_common.entry import Service

ROOT = Path(__file__).resolve().parents[2]
# package -> its own files beyond the common ones: the three backends each serve
# their RPCs (service.py) from their own database (store.py); the gateway has
# neither: it forwards (grpc_proxy.py, rest.py) and answers only health.
SERVICES = {
    "audit_svc": {"service.py", "store.py"},
    "policy_svc": {"service.py", "store.py"},
    "kernel_svc": {"service.py", "store.py"},
    "gateway": {"grpc_proxy.py", "rest.py", "health.py"},
}


def top_level_names(path: Path) -> dict[str, ast.AST]:
    return {node.name: node for node in ast.parse(path.read_text()).body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)} | {
        target.id: node for node in ast.parse(path.read_text()).body if isinstance(node, ast.Assign)
        for target in node.targets if isinstance(target, ast.Name)}


@pytest.mark.parametrize("package", sorted(SERVICES))
def test_every_service_has_the_same_files(package: str) -> None:
    files = {p.name for p in (ROOT / package).glob("*.py")}
    expected = {"__init__.py", "__main__.py", "config.py", "server.py", *SERVICES[package]}
    assert expected <= files, f"{package} lacks {sorted(expected - files)}"


@pytest.mark.parametrize("package", sorted(SERVICES))
def test_main_is_one_hand_off_to_the_shared_entry(package: str) -> None:
    body = ast.parse((ROOT / package / "__main__.py").read_text()).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    statements = [ast.unparse(node) for node in body]
    assert statements == ["from aos_common.entry import run", f"from {package}.server import SERVICE",
                          "run(SERVICE)"], statements


@pytest.mark.parametrize("package", sorted(SERVICES))
def test_server_builds_and_serves(package: str) -> None:
    names = top_level_names(ROOT / package / "server.py")
    assert "build" in names and isinstance(names.get("serve"), ast.AsyncFunctionDef) and "SERVICE" in names
    assert "load" in top_level_names(ROOT / package / "config.py")
    module = __import__(f"{package}.server", fromlist=["SERVICE"])
    assert isinstance(module.SERVICE, Service)


def test_only_stores_import_the_database_driver() -> None:
    offenders = []
    for package in SERVICES:
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text())
            imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                        for alias in node.names}
            imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree)
                         if isinstance(node, ast.ImportFrom)}
            if "asyncpg" in imported and path.name != "store.py":
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
