"""The audit service's PostgreSQL access (role aos_audit, schema audit).

The only module that imports asyncpg. Appends are one call of the
`audit.append_event` function (lock, tail, hash, insert in one round trip);
database failures come out as AosError subclasses.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import asyncpg

from aos_common.errors import AosError, InvalidArgument, Unavailable
from aos_common.pools import skip_reset
from audit_svc.anchors import Checkpoint
from audit_svc.chain import NewEvent
from audit_svc.verify import ChainEntry, Row

T = TypeVar("T")

APPEND = "SELECT chain_seq, hash FROM audit.append_event($1, $2, $3, $4)"

SELECT_EVENTS = """
SELECT chain_seq, event_type, record, prev_hash, hash
  FROM audit.audit_events
 WHERE session_id = $1 AND chain_seq > $2
 ORDER BY chain_seq, hash
 LIMIT $3
"""

# Verification reads through a cursor in the primary key's order: every row
# exactly once, even duplicated chain_seq values in a tampered table (whose
# order among themselves does not change the verdict), with no sort.
STREAM_EVENTS = """
SELECT chain_seq, event_type, record, prev_hash, hash
  FROM audit.audit_events
 WHERE session_id = $1 AND chain_seq > $2
 ORDER BY chain_seq
"""

# Anchoring one session is serialized across replicas by its own advisory key
# (distinct seed from appends), so two anchorers can never fork the anchor chain.
LOCK_ANCHORING = "SELECT pg_advisory_xact_lock(hashtextextended($1::text, 7024))"

LAST_ANCHOR = """
SELECT chain_seq, anchor_hash
  FROM audit.audit_anchors
 WHERE session_id = $1
 ORDER BY chain_seq DESC
 LIMIT 1
"""

HEAD = """
SELECT chain_seq, hash
  FROM audit.audit_events
 WHERE session_id = $1
 ORDER BY chain_seq DESC
 LIMIT 1
"""

INSERT_ANCHOR = """
INSERT INTO audit.audit_anchors
    (session_id, chain_seq, head_hash, anchor_hash, prev_anchor_hash, object_key, document, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""

PENDING_ANCHORS = """
SELECT session_id, chain_seq, object_key, document
  FROM audit.audit_anchors
 WHERE stored_at IS NULL
 ORDER BY created_at, chain_seq
 LIMIT $1
"""

MARK_STORED = "UPDATE audit.audit_anchors SET stored_at = now() WHERE session_id = $1 AND chain_seq = $2"

COUNT_PENDING = "SELECT count(*) FROM audit.audit_anchors WHERE stored_at IS NULL"

# Sessions whose head is past their newest anchor: what a restarted anchorer must pick up.
UNANCHORED_SESSIONS = """
SELECT e.session_id, e.head - coalesce(a.anchored, 0) AS pending
  FROM (SELECT session_id, max(chain_seq) AS head FROM audit.audit_events GROUP BY session_id) e
  LEFT JOIN (SELECT session_id, max(chain_seq) AS anchored FROM audit.audit_anchors GROUP BY session_id) a
       USING (session_id)
 WHERE e.head > coalesce(a.anchored, 0)
"""


@dataclass(frozen=True)
class PendingAnchor:
    session_id: str
    chain_seq: int
    object_key: str
    document: bytes


def _translate(exc: Exception) -> AosError:
    if isinstance(exc, asyncpg.DataError):
        return InvalidArgument(f"the database refused a value: {type(exc).__name__}")
    if isinstance(exc, (OSError, asyncpg.CannotConnectNowError, asyncpg.ConnectionDoesNotExistError)):
        return Unavailable("the audit database is unavailable; retry shortly")
    if isinstance(exc, asyncpg.PostgresError):
        return AosError(f"audit database error (SQLSTATE {exc.sqlstate})")
    return AosError("audit database error")


class AuditStore:
    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    @classmethod
    async def open(cls, dsn: str, max_size: int = 10) -> AuditStore:
        try:
            # The default reset on release would double the round trips of an append.
            pool = await asyncpg.create_pool(dsn, min_size=1, max_size=max_size, reset=skip_reset)
        except (OSError, asyncpg.PostgresError) as exc:
            raise _translate(exc) from exc
        return cls(pool)

    async def close(self) -> None:
        await self._pool.close()

    async def _run(self, operation: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        try:
            async with self._pool.acquire() as conn:
                return await operation(conn)
        except AosError:
            raise
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise _translate(exc) from exc

    async def append(self, event: NewEvent) -> tuple[int, bytes]:
        row = await self._run(
            lambda conn: conn.fetchrow(
                APPEND, uuid.UUID(event.session_id), event.event_type, event.record, event.created_at
            )
        )
        return row["chain_seq"], row["hash"]

    async def events(self, session_id: str, after_seq: int, limit: int) -> list[ChainEntry]:
        rows = await self._run(lambda conn: conn.fetch(SELECT_EVENTS, uuid.UUID(session_id), after_seq, limit))
        return [_entry(row) for row in rows]

    async def stream_events(
        self, session_id: str, after_seq: int = 0, batch: int = 5000
    ) -> AsyncIterator[list[Row]]:
        """A session's entries in order, in batches, without holding the whole chain."""
        async for rows in stream_rows(self._pool, session_id, after_seq, batch):
            yield rows

    async def create_anchor(
        self, session_id: str, now: datetime, key_id: str, sign: Callable[[Checkpoint], bytes]
    ) -> Checkpoint | None:
        """Record a signed checkpoint of the session's head, unless the head is already anchored."""

        async def operation(conn: asyncpg.Connection) -> Checkpoint | None:
            session = uuid.UUID(session_id)
            async with conn.transaction():
                await conn.execute(LOCK_ANCHORING, session_id)
                head = await conn.fetchrow(HEAD, session)
                last = await conn.fetchrow(LAST_ANCHOR, session)
                if head is None or (last is not None and last["chain_seq"] >= head["chain_seq"]):
                    return None
                checkpoint = Checkpoint(
                    session_id=session_id,
                    chain_seq=head["chain_seq"],
                    head_hash=head["hash"],
                    prev_anchor_hash=last["anchor_hash"] if last is not None else b"",
                    created_at=now,
                    key_id=key_id,
                )
                await conn.execute(
                    INSERT_ANCHOR,
                    session,
                    checkpoint.chain_seq,
                    checkpoint.head_hash,
                    checkpoint.anchor_hash,
                    checkpoint.prev_anchor_hash or None,
                    checkpoint.object_key,
                    sign(checkpoint),
                    now,
                )
                return checkpoint

        return await self._run(operation)

    async def pending_anchors(self, limit: int = 100) -> list[PendingAnchor]:
        rows = await self._run(lambda conn: conn.fetch(PENDING_ANCHORS, limit))
        return [PendingAnchor(str(r["session_id"]), r["chain_seq"], r["object_key"], r["document"]) for r in rows]

    async def mark_stored(self, anchor: PendingAnchor) -> None:
        await self._run(lambda conn: conn.execute(MARK_STORED, uuid.UUID(anchor.session_id), anchor.chain_seq))

    async def count_pending(self) -> int:
        return await self._run(lambda conn: conn.fetchval(COUNT_PENDING))

    async def unanchored_sessions(self) -> dict[str, int]:
        rows = await self._run(lambda conn: conn.fetch(UNANCHORED_SESSIONS))
        return {str(r["session_id"]): r["pending"] for r in rows}


def _entry(row: Any) -> ChainEntry:
    # SELECT_EVENTS lists the columns in ChainEntry's field order.
    return ChainEntry._make(row)


@asynccontextmanager
async def _connection(source: asyncpg.Pool | asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    if isinstance(source, asyncpg.Pool):
        async with source.acquire() as conn:
            yield conn
    else:
        yield source


async def stream_rows(
    source: asyncpg.Pool | asyncpg.Connection, session_id: str, after_seq: int = 0, batch: int = 5000
) -> AsyncIterator[list[Row]]:
    """A session's raw rows in chain order, page by page, from one snapshot
    (columns in ChainEntry's order; the verifier reads them column-wise, so
    no per-row object is built). The next page is requested before the
    current one is handed out, so the database works while the caller hashes.
    Accepts a bare connection so a caller can read inside its own transaction
    (tests read a tampered chain before rolling it back)."""
    session = uuid.UUID(session_id)
    try:
        async with _connection(source) as conn, _snapshot(conn):
            # Every database operation runs as its own task, awaited through a
            # shield: whatever ends the read (the caller's error, a cancellation)
            # lets the operation in flight land before the transaction ends, since
            # asyncpg refuses to roll back on a connection that is still busy.
            pending: asyncio.Future[Any] | None = asyncio.ensure_future(
                conn.cursor(STREAM_EVENTS, session, after_seq))
            try:
                cursor = await asyncio.shield(pending)
                pending = asyncio.ensure_future(cursor.fetch(batch))
                while pending is not None:
                    rows = await asyncio.shield(pending)
                    pending = None
                    if len(rows) == batch:
                        pending = asyncio.ensure_future(cursor.fetch(batch))
                        await asyncio.sleep(0)  # let the request go out
                    if rows:
                        yield rows
            finally:
                if pending is not None:
                    await asyncio.wait([pending])
                    if not pending.cancelled():
                        pending.exception()  # retrieved: the error that ended the read is the one to report
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise _translate(exc) from exc


def _snapshot(conn: asyncpg.Connection) -> AbstractAsyncContextManager[object]:
    """A cursor needs a transaction: the caller's, or a read-only one of our own."""
    if conn.is_in_transaction():
        return nullcontext()
    return conn.transaction(isolation="repeatable_read", readonly=True)
