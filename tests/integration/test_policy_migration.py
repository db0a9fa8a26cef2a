"""0003_policy applies on top of 0001 alone, and aos_policy gets only what it needs."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest

from aosiq.database import SERVICE_ROLES, create_database, with_user
from aosiq.migrate import migrate, migrations_dir

if TYPE_CHECKING:
    from tests.conftest import TestDatabase


async def test_policy_migration_needs_only_the_roles_migration(pg_admin_dsn: str, tmp_path: Path) -> None:
    for name in ("0001_roles_and_schemas.sql", "0003_policy.sql"):
        shutil.copy(migrations_dir() / name, tmp_path / name)
    dsn = await create_database(pg_admin_dsn, f"aos_policy_only_{uuid.uuid4().hex[:8]}")
    applied = await migrate(dsn, tmp_path)
    assert [m.version for m in applied] == [1, 3]
    conn = await asyncpg.connect(with_user(dsn, SERVICE_ROLES["policy"]))
    try:
        assert await conn.fetchval("SELECT count(*) FROM agent_classes") == 0
    finally:
        await conn.close()


async def test_policy_role_cannot_delete_history_or_rewrite_grants(db: TestDatabase) -> None:
    conn = await asyncpg.connect(db.dsn("policy"))
    try:
        for statement in (
            "DELETE FROM capability_tokens",
            "DELETE FROM approvals",
            "DELETE FROM syscalls",
            "UPDATE capability_tokens SET caps = '{*}'",
            "UPDATE approvals SET args_hash = repeat('0', 64)",
            "UPDATE cost_ledger SET ceiling_usd = 1e9",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)
    finally:
        await conn.close()
    other = await asyncpg.connect(db.dsn("kernel"))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await other.fetch("SELECT * FROM policy.capability_tokens")
    finally:
        await other.close()
