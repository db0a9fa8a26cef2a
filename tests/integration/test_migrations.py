"""Migrations apply in order, once, and re-running them changes nothing."""

from __future__ import annotations

import asyncpg

from aosiq.migrate import load_migrations, migrate
from tests.conftest import TestDatabase


async def test_every_migration_is_recorded_once(db: TestDatabase) -> None:
    assert await migrate(db.admin_dsn) == []  # already applied by the template
    conn = await asyncpg.connect(db.admin_dsn)
    try:
        rows = await conn.fetch("SELECT version FROM public.aos_schema_migrations ORDER BY version")
    finally:
        await conn.close()
    assert [r["version"] for r in rows] == [m.version for m in load_migrations()]


async def test_service_roles_cannot_reach_other_schemas(db: TestDatabase) -> None:
    conn = await asyncpg.connect(db.dsn("kernel"))
    try:
        for schema in ("policy", "audit"):
            try:
                await conn.execute(f"CREATE TABLE {schema}.intruder (x int)")
            except asyncpg.InsufficientPrivilegeError:
                pass
            else:
                raise AssertionError(f"kernel role could create a table in {schema}")
    finally:
        await conn.close()
