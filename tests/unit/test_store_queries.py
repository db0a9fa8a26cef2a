"""Each store and its queries.sql agree: every named statement is run by the store (a dead
query fails here), every name the store asks for exists, and every table is named with
its schema (the roles' search_path is not relied on)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from aos_common.sql import load_queries

ROOT = Path(__file__).resolve().parents[2]
STORES = ["audit_svc", "kernel_svc", "policy_svc"]
SCHEMAS = {"audit_svc": "audit", "kernel_svc": "kernel", "policy_svc": "policy"}


def asked_names(store: Path) -> set[str]:
    """The names in the store's `SQL[...]` look-ups; a look-up not spelled out fails the test."""
    names = set()
    for node in ast.walk(ast.parse(store.read_text())):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "SQL":
            for choice in (node.slice.body, node.slice.orelse) if isinstance(node.slice, ast.IfExp) else (node.slice,):
                assert isinstance(choice, ast.Constant), f"{store}:{node.lineno}: name the statement literally"
                names.add(str(choice.value))
    return names


@pytest.mark.parametrize("package", STORES)
def test_every_statement_is_used_and_every_used_name_exists(package: str) -> None:
    statements = set(load_queries(ROOT / package / "queries.sql"))
    asked = asked_names(ROOT / package / "store.py")
    assert sorted(statements - asked) == [], "named in queries.sql, never run by store.py"
    assert sorted(asked - statements) == [], "asked for by store.py, missing from queries.sql"


# A relation after FROM, JOIN, INTO or UPDATE: schema-qualified, or one the statement names itself.
_RELATION = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE)\s+(?!SET\b|OF\b)([a-z_][\w.]*)")
_OWN_NAME = re.compile(r"(?:\bWITH(?: RECURSIVE)?|,)\s*(\w+) AS \(")


@pytest.mark.parametrize("package", STORES)
def test_every_table_is_named_with_its_schema(package: str) -> None:
    for name, sql in load_queries(ROOT / package / "queries.sql").items():
        sql = re.sub(r"extract\(epoch FROM \w+\.?\w*\)", "", sql)
        own = set(_OWN_NAME.findall(sql))
        unqualified = [rel for rel in _RELATION.findall(sql) if "." not in rel and rel not in own]
        assert unqualified == [], f"{package} {name}: write {SCHEMAS[package]}.<table>"
