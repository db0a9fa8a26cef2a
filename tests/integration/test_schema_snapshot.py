"""Applying every migration to an empty database gives exactly the committed schema
(migrations/snapshot/schema.sql): a migration edited after the fact, or a schema
changed outside migrations, shows up as a diff."""

from __future__ import annotations

import difflib

from aosiq.schema_dump import SNAPSHOT, dump_schema
from tests.conftest import TestDatabase


def test_migrations_produce_the_committed_schema(db: TestDatabase) -> None:
    applied = dump_schema(db.admin_dsn)
    committed = SNAPSHOT.read_text()
    diff = "".join(difflib.unified_diff(committed.splitlines(True), applied.splitlines(True), "committed", "applied"))
    assert applied == committed, f"refresh with `python -m aosiq.schema_dump DSN > {SNAPSHOT}`:\n{diff[:4000]}"
