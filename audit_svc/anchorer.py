"""The background anchorer: checkpoints chain heads and ships them to the anchor store.

Appends never wait for it. Each tick (at most a second) it signs one
checkpoint per session that is due (N events or T seconds since its first
unanchored event) - so anchor writes grow with the number of active
sessions, never with the event rate - records
it in `audit_anchors`, then uploads the backlog in order. When the store is
down the failure counter rises, the backlog grows, and the chain keeps
growing; when the store returns the backlog drains.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from aos_common.errors import AosError
from aos_common.logs import log_fields
from audit_svc.anchor_documents import AnchorSigner
from audit_svc.anchor_store import AnchorStore, AnchorStoreError
from audit_svc.store import AuditStore

log = logging.getLogger(__name__)

UPLOAD_BATCH = 100


@dataclass(frozen=True)
class AnchorStats:
    successes: int
    failures: int
    last_success_at: datetime | None
    store: str
    backlog: int


@dataclass
class _Pending:
    events: int
    since: float  # monotonic time of the first unanchored event


class Anchorer:
    def __init__(
        self,
        store: AuditStore,
        anchor_store: AnchorStore,
        signer: AnchorSigner,
        every_events: int,
        every_seconds: float,
    ):
        self._store = store
        self._anchor_store = anchor_store
        self._signer = signer
        self._every_events = every_events
        self._every_seconds = every_seconds
        self._tick = min(every_seconds, 1.0)
        self._pending: dict[str, _Pending] = {}
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._successes = 0
        self._failures = 0
        self._last_success_at: datetime | None = None
        self._backlog = 0

    def stats(self) -> AnchorStats:
        return AnchorStats(
            successes=self._successes,
            failures=self._failures,
            last_success_at=self._last_success_at,
            store=self._anchor_store.kind,
            backlog=self._backlog,
        )

    def note_append(self, session_id: str) -> None:
        """Called after every append; cheap, never blocks."""
        pending = self._pending.get(session_id)
        if pending is None:
            pending = self._pending[session_id] = _Pending(0, time.monotonic())
        pending.events += 1

    async def start(self) -> None:
        """Pick up sessions left unanchored by a previous run, then run in the background."""
        now = time.monotonic()
        for session_id, events in (await self._store.unanchored_sessions()).items():
            self._pending.setdefault(session_id, _Pending(events, now))
        self._backlog = await self._store.count_pending()
        self._task = asyncio.create_task(self._run(), name="audit-anchorer")

    async def stop(self) -> None:
        """Anchor every session's head and try once more to empty the backlog."""
        self._stopped.set()
        if self._task is not None:
            await self._task
        await self.run_once(flush=True)

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._stopped.wait(), timeout=self._tick)
                return
            except TimeoutError:
                pass
            try:
                await self.run_once()
            except AosError as exc:
                # The database is down: appends fail too; try again next tick.
                log.warning("anchoring pass failed", extra=log_fields(error=exc.message))
            except Exception:
                # A bug must not silently end anchoring for the life of the process.
                log.exception("anchoring pass failed unexpectedly")

    async def run_once(self, flush: bool = False) -> None:
        """One pass: checkpoint the due sessions, then upload what is pending."""
        now = time.monotonic()
        due = [
            session_id
            for session_id, pending in self._pending.items()
            if flush or pending.events >= self._every_events or now - pending.since >= self._every_seconds
        ]
        for session_id in due:
            del self._pending[session_id]
            try:
                await self._store.create_anchor(
                    session_id, datetime.now(UTC), self._signer.key_id, self._signer.sign
                )
            except AosError:
                self._pending.setdefault(session_id, _Pending(1, now))
                raise
        await self._upload()

    async def _upload(self) -> None:
        while True:
            batch = await self._store.pending_anchors(UPLOAD_BATCH)
            for anchor in batch:
                try:
                    await self._anchor_store.put(anchor.object_key, anchor.document)
                except AnchorStoreError as exc:
                    self._failures += 1
                    self._backlog = await self._store.count_pending()
                    log.warning(
                        "anchor write failed; will retry",
                        extra=log_fields(store=self._anchor_store.kind, error=str(exc), backlog=self._backlog),
                    )
                    return
                await self._store.mark_stored(anchor)
                self._successes += 1
                self._last_success_at = datetime.now(UTC)
            if len(batch) < UPLOAD_BATCH:
                self._backlog = await self._store.count_pending()
                return
