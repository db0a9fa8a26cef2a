"""What the scheduler looks like from outside: live workers and agents by state."""

from __future__ import annotations

from dataclasses import dataclass

from aos_common.errors import AosError
from kernel_svc.store import SchedulerCounts, Store

OK = "ok"
DEGRADED = "degraded"  # no live worker: agents are accepted but nothing advances them
DOWN = "down"  # the kernel cannot reach its database


@dataclass(frozen=True)
class SchedulerSnapshot:
    status: str
    counts: SchedulerCounts


async def snapshot(store: Store, live_within_seconds: float) -> SchedulerSnapshot:
    try:
        counts = await store.scheduler_counts(live_within_seconds)
    except AosError:
        return SchedulerSnapshot(DOWN, SchedulerCounts(0, 0, 0, 0, 0, 0))
    return SchedulerSnapshot(OK if counts.workers > 0 else DEGRADED, counts)
