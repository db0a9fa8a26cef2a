"""The chain is append-only in PostgreSQL itself: only the audit role can add
to it, and no service role can change or remove a row (issue 2 and 3)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from tests.conftest import TestDatabase

RECORD = b'{"example":true}'
APPEND = "SELECT * FROM audit.append_event($1, 'TEST_EVENT', $2, $3)"
MUTATIONS = [
    "UPDATE audit.audit_events SET event_type = 'FORGED'",
    "UPDATE audit.audit_events SET hash = prev_hash",
    "DELETE FROM audit.audit_events",
    "TRUNCATE audit.audit_events",
]


@pytest.fixture(scope="module")
async def seeded(db: TestDatabase) -> uuid.UUID:
    session = uuid.uuid4()
    conn = await asyncpg.connect(db.dsn("audit"))
    try:
        for _ in range(3):
            await conn.fetchrow(APPEND, session, RECORD, datetime.now(UTC))
    finally:
        await conn.close()
    return session


async def _count(db: TestDatabase) -> int:
    conn = await asyncpg.connect(db.admin_dsn)
    try:
        return await conn.fetchval("SELECT count(*) FROM audit.audit_events")
    finally:
        await conn.close()


@pytest.mark.parametrize("service", ["kernel", "policy"])
async def test_other_services_cannot_write_the_chain(db: TestDatabase, seeded: uuid.UUID, service: str) -> None:
    conn = await asyncpg.connect(db.dsn(service))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "INSERT INTO audit.audit_events VALUES ($1, 99, 'FORGED', $2, $2, $2, now())", seeded, RECORD
            )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetchrow(APPEND, seeded, RECORD, datetime.now(UTC))
    finally:
        await conn.close()
    assert await _count(db) == 3


@pytest.mark.parametrize("service", ["kernel", "policy", "audit"])
@pytest.mark.parametrize("statement", MUTATIONS)
async def test_no_role_can_change_or_remove_events(
    db: TestDatabase, seeded: uuid.UUID, service: str, statement: str
) -> None:
    conn = await asyncpg.connect(db.dsn(service))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)
    finally:
        await conn.close()
    assert await _count(db) == 3


async def test_the_trigger_refuses_even_the_table_owner(db: TestDatabase, seeded: uuid.UUID) -> None:
    """Grants alone would not stop the owner; the trigger does, until a superuser disables it."""
    conn = await asyncpg.connect(db.admin_dsn)
    try:
        for statement in MUTATIONS:
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(statement)
    finally:
        await conn.close()
    assert await _count(db) == 3


async def test_anchor_rows_only_gain_their_stored_time(db: TestDatabase, seeded: uuid.UUID) -> None:
    conn = await asyncpg.connect(db.dsn("audit"))
    try:
        await conn.execute(
            "INSERT INTO audit.audit_anchors (session_id, chain_seq, head_hash, anchor_hash, object_key,"
            " document, created_at) VALUES ($1, 3, '\\x01', '\\x02', 'k', '\\x03', now())",
            seeded,
        )
        await conn.execute("UPDATE audit.audit_anchors SET stored_at = now() WHERE session_id = $1", seeded)
        for statement in (
            "UPDATE audit.audit_anchors SET stored_at = now()",  # a second time
            "UPDATE audit.audit_anchors SET head_hash = '\\x09'",
            "DELETE FROM audit.audit_anchors",
            "TRUNCATE audit.audit_anchors",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)
    finally:
        await conn.close()
    for service in ("kernel", "policy"):
        other = await asyncpg.connect(db.dsn(service))
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await other.fetch("SELECT * FROM audit.audit_anchors")
        finally:
            await other.close()
