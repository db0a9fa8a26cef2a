"""Every reason the code raises, denies with or tests for is in the one table
(aos_common/errors.py), and every reason in the table has its class."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

from aos_common.errors import DEFAULT_REASON_BY_CODE, ERROR_CLASSES, HTTP_STATUS_BY_REASON, REASON_CODES, AosError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("aos_common", "aosiq", "audit_svc", "gateway", "kernel_svc", "policy_svc")

# Callables whose positional argument at this index is a reason.
REASON_ARGUMENT = {"Refused": 0, "error_for": 0, "error_response": 2, "error_body": 2, "_status_trailer": 2}


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _strings(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [text for item in node.elts for text in _strings(item)]
    return []


def reasons_in(source: str) -> set[str]:
    """String constants standing where a reason goes: a `reason=` argument, a
    `Refused(reason, …)` (and the like), a class's `reason = …`, a comparison
    with a `reason`, and `x.reason or "…"` (not a bare `reason or …`: the
    dashboard's login-page keys are another vocabulary)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.keyword) and node.arg == "reason":
            found.update(_strings(node.value))
        elif isinstance(node, ast.Call) and _name(node.func) in REASON_ARGUMENT:
            index = REASON_ARGUMENT[_name(node.func)]
            if len(node.args) > index:
                found.update(_strings(node.args[index]))
        elif isinstance(node, ast.ClassDef):
            for statement in node.body:
                if isinstance(statement, ast.Assign) and any(_name(t) == "reason" for t in statement.targets):
                    found.update(_strings(statement.value))
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_name(side) == "reason" for side in sides):
                found.update(text for side in sides for text in _strings(side))
        elif isinstance(node, ast.BoolOp) and any(isinstance(value, ast.Attribute) and value.attr == "reason"
                                                  for value in node.values):
            found.update(text for value in node.values for text in _strings(value))
    return found


def code_reasons() -> dict[str, set[str]]:
    """reason -> the files that use it, over the services' code (not tests, not generated stubs)."""
    where: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for reason in reasons_in(path.read_text()):
                where.setdefault(reason, set()).add(str(path.relative_to(ROOT)))
    return where


def every_error_class() -> set[type[AosError]]:
    for package in PACKAGES:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, f"{package}."):
            if not info.name.endswith("__main__"):
                importlib.import_module(info.name)
    found: set[type[AosError]] = set()
    pending = [AosError]
    while pending:
        cls = pending.pop()
        found.add(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_the_scan_sees_reasons_wherever_they_stand() -> None:
    source = '''
class Odd(Base):
    reason = "IN_A_CLASS"
raise Refused("REFUSED_WITH", "message")
raise AosError("message", reason="AS_A_KEYWORD")
if error.reason == "COMPARED" or reason in ("IN_A_TUPLE",):
    pass
verdict = reply.reason or "AS_A_DEFAULT"
text = reason or "NOT_A_REASON_EITHER"
log_fields(detail="NOT_A_REASON")
'''
    assert reasons_in(source) == {"IN_A_CLASS", "REFUSED_WITH", "AS_A_KEYWORD", "COMPARED", "IN_A_TUPLE",
                                  "AS_A_DEFAULT"}


def test_every_reason_in_the_code_is_in_the_table() -> None:
    where = code_reasons()
    # The scan reaches policy's denials and the kernel's checks, not just the table itself.
    assert {"APPROVAL_ARGS_MISMATCH", "BACKEND_NOT_ALLOWED", "COST_CEILING_EXCEEDED", "TOKEN_EXPIRED"} <= set(where)
    unknown = {reason: sorted(files) for reason, files in where.items() if reason not in REASON_CODES}
    assert unknown == {}


def test_every_error_class_names_a_reason_in_the_table() -> None:
    classes = every_error_class()
    assert any(cls.__name__ == "StaleEpoch" for cls in classes)  # the walk reaches the services' own errors
    assert {cls.__name__: cls.reason for cls in classes if cls.reason not in REASON_CODES} == {}


def test_an_error_class_with_an_unknown_reason_cannot_be_defined() -> None:
    with pytest.raises(TypeError, match="unknown reason"):
        type("Bogus", (AosError,), {"reason": "MADE_UP"})


def test_every_reason_in_the_table_has_its_class() -> None:
    assert set(ERROR_CLASSES) == set(REASON_CODES)
    assert all(cls.reason == reason for reason, cls in ERROR_CLASSES.items())


def test_the_tables_around_it_name_only_its_reasons() -> None:
    assert set(DEFAULT_REASON_BY_CODE.values()) <= set(REASON_CODES)
    assert set(HTTP_STATUS_BY_REASON) <= set(REASON_CODES)
