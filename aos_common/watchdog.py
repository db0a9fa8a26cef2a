"""Event-loop stall watchdog: a process whose loop stops ticking exits, so its supervisor restarts it.

A blocking call on the event loop freezes every RPC, worker and heartbeat of
the process while the process itself stays alive, so no supervisor notices.
`start_watchdog` runs a task on the loop that records a tick every fraction of
the limit, and a daemon thread that checks the tick: when the loop has not
ticked for `stall_seconds`, the thread logs one line and ends the process with
`os._exit(STALL_EXIT_CODE)` (no cleanup: the loop that would run it is stuck).
`aosiq up`'s supervisor, or an orchestrator, then restarts the process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time

from aos_common.logs import log_fields

log = logging.getLogger(__name__)

STALL_EXIT_CODE = 70


class LoopWatchdog:
    """Ticks on the running loop and watches the ticks from a thread."""

    def __init__(self, service: str, stall_seconds: float):
        self.service = service
        self.stall_seconds = stall_seconds
        self._interval = max(stall_seconds / 4, 0.05)
        self._last_tick = time.monotonic()
        self._stopped = threading.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start ticking on the running loop and watching from a daemon thread."""
        self._last_tick = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._tick())
        threading.Thread(target=self._watch, name=f"{self.service}-loop-watchdog", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()
        if self._task is not None:
            self._task.cancel()

    async def _tick(self) -> None:
        while True:
            self._last_tick = time.monotonic()
            await asyncio.sleep(self._interval)

    def _watch(self) -> None:
        while not self._stopped.wait(self._interval):
            stalled = time.monotonic() - self._last_tick
            if stalled >= self.stall_seconds:
                log.critical("event loop stalled; exiting so the supervisor restarts this process",
                             extra=log_fields(service=self.service, stalled_seconds=round(stalled, 1),
                                              limit_seconds=self.stall_seconds))
                for handler in logging.getLogger().handlers:
                    handler.flush()
                os._exit(STALL_EXIT_CODE)


def start_watchdog(service: str, stall_seconds: float) -> LoopWatchdog | None:
    """Watch the running loop; `stall_seconds` <= 0 turns the watchdog off."""
    if stall_seconds <= 0:
        return None
    watchdog = LoopWatchdog(service, stall_seconds)
    watchdog.start()
    log.info("event-loop watchdog on", extra=log_fields(service=service, stall_seconds=stall_seconds))
    return watchdog
