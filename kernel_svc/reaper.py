"""The orphan reaper: agents whose worker went silent go back to runnable.

Recovery bumps the agent's epoch, so if the silent worker was only paused its
later writes are refused. The same pass moves agents whose token expired while
they waited for an approval to `suspended_token_expired` (recoverable by renew).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aos_common.errors import AosError
from aos_common.logs import log_fields
from kernel_svc.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReapResult:
    orphans: list[str]
    suspended: list[str]


class Reaper:
    def __init__(self, store: Store, *, orphan_after_seconds: float, interval_seconds: float):
        self._store = store
        self._orphan_after = orphan_after_seconds
        self._interval = interval_seconds

    async def reap_once(self) -> ReapResult:
        orphans = await self._store.reap_orphans(self._orphan_after)
        suspended = await self._store.suspend_expired()
        await self._store.prune_workers(max(60.0, 10 * self._orphan_after))
        for agent_id in orphans:
            log.warning("orphaned agent recovered", extra=log_fields(agent_id=agent_id))
        for agent_id in suspended:
            log.info("agent token expired while waiting; suspended", extra=log_fields(agent_id=agent_id))
        return ReapResult(orphans, suspended)

    async def patrol(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.reap_once()
            except AosError as error:
                log.warning("reaper pass failed", extra=log_fields(detail=error.message))
            try:
                await asyncio.wait_for(stop.wait(), timeout=self._interval)
            except TimeoutError:
                pass
