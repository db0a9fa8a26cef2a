"""The audit service's PostgreSQL access (role aos_audit, schema audit).

The only module that imports asyncpg; its statements are in queries.sql. Appends
are one call of the `audit.append_event` function (lock, tail, hash, insert in
one round trip); database failures come out as AosErrors through aos_common.sql.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from aos_common.errors import AosError, Internal
from aos_common.pools import skip_reset
from aos_common.sql import DRIVER_ERRORS, Connection, load_queries, translate
from audit_svc.anchor_documents import Checkpoint
from audit_svc.chain import NewEvent
from audit_svc.verify import ChainEntry, Row

T = TypeVar("T")

SQL = load_queries(Path(__file__).with_name("queries.sql"))


@dataclass(frozen=True)
class PendingAnchor:
    session_id: str
    chain_seq: int
    object_key: str
    document: bytes


class AuditStore:
    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    @classmethod
    async def open(cls, dsn: str, max_size: int = 10) -> AuditStore:
        try:
            # The default reset on release would double the round trips of an append.
            pool = await asyncpg.create_pool(dsn, min_size=1, max_size=max_size, reset=skip_reset)
        except DRIVER_ERRORS as exc:
            raise translate(exc, "audit") from exc
        return cls(pool)

    async def close(self) -> None:
        await self._pool.close()

    async def _run(self, operation: Callable[[Connection], Awaitable[T]]) -> T:
        try:
            async with self._pool.acquire() as conn:
                return await operation(conn)
        except AosError:
            raise
        except DRIVER_ERRORS as exc:
            raise translate(exc, "audit") from exc

    async def append(self, event: NewEvent) -> tuple[int, bytes]:
        row = await self._run(
            lambda conn: conn.fetchrow(
                SQL["append_event"], uuid.UUID(event.session_id), event.event_type, event.record, event.created_at
            )
        )
        if row is None:
            raise Internal("the append returned no row")
        return row["chain_seq"], row["hash"]

    async def events(self, session_id: str, after_seq: int, limit: int) -> list[ChainEntry]:
        rows = await self._run(lambda conn: conn.fetch(SQL["select_events"], uuid.UUID(session_id), after_seq, limit))
        return [_entry(row) for row in rows]

    async def stream_events(
        self, session_id: str, after_seq: int = 0, batch: int = 5000
    ) -> AsyncGenerator[list[Row], None]:
        """A session's entries in order, in batches, without holding the whole chain."""
        async for rows in stream_rows(self._pool, session_id, after_seq, batch):
            yield rows

    async def create_anchor(
        self, session_id: str, now: datetime, key_id: str, sign: Callable[[Checkpoint], bytes]
    ) -> Checkpoint | None:
        """Record a signed checkpoint of the session's head, unless the head is already anchored."""

        async def operation(conn: Connection) -> Checkpoint | None:
            session = uuid.UUID(session_id)
            async with conn.transaction():
                await conn.execute(SQL["lock_anchoring"], session_id)
                head = await conn.fetchrow(SQL["head"], session)
                last = await conn.fetchrow(SQL["last_anchor"], session)
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
                    SQL["insert_anchor"],
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
        rows = await self._run(lambda conn: conn.fetch(SQL["pending_anchors"], limit))
        return [PendingAnchor(str(r["session_id"]), r["chain_seq"], r["object_key"], r["document"]) for r in rows]

    async def mark_stored(self, anchor: PendingAnchor) -> None:
        await self._run(lambda conn: conn.execute(SQL["mark_stored"], uuid.UUID(anchor.session_id), anchor.chain_seq))

    async def count_pending(self) -> int:
        return await self._run(lambda conn: conn.fetchval(SQL["count_pending"]))

    async def unanchored_sessions(self) -> dict[str, int]:
        rows = await self._run(lambda conn: conn.fetch(SQL["unanchored_sessions"]))
        return {str(r["session_id"]): r["pending"] for r in rows}


def _entry(row: Any) -> ChainEntry:
    # select_events lists the columns in ChainEntry's field order.
    return ChainEntry._make(row)


@asynccontextmanager
async def _connection(source: asyncpg.Pool | Connection) -> AsyncIterator[Connection]:
    if isinstance(source, asyncpg.Pool):
        async with source.acquire() as conn:
            yield conn
    else:
        yield source


async def stream_rows(
    source: asyncpg.Pool | Connection, session_id: str, after_seq: int = 0, batch: int = 5000
) -> AsyncGenerator[list[Row], None]:
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
            opening = asyncio.ensure_future(conn.cursor(SQL["stream_events"], session, after_seq))
            pending: asyncio.Future[Any] | None = opening
            try:
                cursor = await asyncio.shield(opening)
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
    except DRIVER_ERRORS as exc:
        raise translate(exc, "audit") from exc


def _snapshot(conn: Connection) -> AbstractAsyncContextManager[object]:
    """A cursor needs a transaction: the caller's, or a read-only one of our own."""
    if conn.is_in_transaction():
        return nullcontext()
    return conn.transaction(isolation="repeatable_read", readonly=True)
